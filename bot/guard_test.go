package bot_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infrabot/infrabot/bot"
)

// diskReplays is a store: what it holds, how often it was asked, and the
// remembered writes not yet on disk.
type diskReplays struct {
	*bot.MemoryReplays
	checks, remembers int
	fail              error
}

func (d *diskReplays) FirstSeen(ctx context.Context, keys []string, now, until time.Time) (bool, error) {
	d.checks++
	return d.MemoryReplays.FirstSeen(ctx, keys, now, until)
}

func (d *diskReplays) Remember(keys []string, now, until time.Time) func() error {
	d.remembers++
	if d.fail != nil {
		return func() error { return d.fail }
	}
	d.MemoryReplays.FirstSeen(context.Background(), keys, now, until)
	return func() error { return nil }
}

func TestGuardChecksOnDiskOnlyWhatAnEarlierProcessCanHaveSeen(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	disk := &diskReplays{MemoryReplays: bot.NewMemoryReplays(time.Minute)}
	// An earlier process accepted "old" just before it stopped.
	disk.MemoryReplays.FirstSeen(ctx, []string{"old"}, start.Add(-time.Second), start.Add(10*time.Minute))
	g := bot.NewGuard(disk, 5*time.Minute, start)
	claim := func(key string, signed, now time.Time) bool {
		t.Helper()
		first, durable, err := g.Claim(ctx, []string{key}, signed, now, now.Add(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if first {
			if err := durable(); err != nil {
				t.Fatal(err)
			}
		}
		return first
	}

	// Signed within the window after the start: an earlier process may
	// have seen it, so the disk is asked.
	if claim("old", start.Add(time.Minute), start.Add(time.Minute)) {
		t.Fatal("a delivery an earlier process accepted was taken for new")
	}
	if !claim("a", start.Add(time.Minute), start.Add(time.Minute)) || disk.checks != 2 || disk.remembers != 0 {
		t.Fatalf("a delivery signed 1 minute after the start: %d checks and %d writes on disk, want 2 and 0", disk.checks, disk.remembers)
	}
	if claim("a", start.Add(time.Minute), start.Add(2*time.Minute)) {
		t.Error("a repeated delivery was taken for new")
	}

	// Signed a window after the start: no earlier process can have seen
	// it. Memory answers; the disk is written, not asked.
	checks := disk.checks
	late := start.Add(6 * time.Minute)
	if !claim("b", late, late) || disk.checks != checks || disk.remembers != 1 {
		t.Fatalf("a delivery signed 6 minutes after the start: %d more checks and %d writes on disk, want 0 and 1", disk.checks-checks, disk.remembers)
	}
	if claim("b", late, late.Add(time.Second)) || claim("a", late, late) {
		t.Error("a delivery seen already was taken for new")
	}
	if first, _ := disk.MemoryReplays.FirstSeen(ctx, []string{"b"}, late, late); first {
		t.Error("a delivery accepted in memory was not stored for the next process")
	}

	// Forgotten: its retry is new again.
	if err := g.Forget(ctx, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	if !claim("b", late, late.Add(2*time.Second)) {
		t.Error("a forgotten delivery is still refused")
	}

	// A write that fails is said by durable, for the caller to log.
	disk.fail = errors.New("disk full")
	first, durable, err := g.Claim(ctx, []string{"c"}, late, late, late.Add(time.Minute))
	if err != nil || !first || durable() == nil {
		t.Errorf("Claim with a failing disk: first %v, err %v; durable should fail", first, err)
	}
}

func TestGuardWithoutAStoreRemembersInMemory(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	g := bot.NewGuard(nil, 5*time.Minute, now.Add(-time.Hour))
	if first, durable, err := g.Claim(ctx, []string{"k"}, now, now, now.Add(time.Minute)); !first || err != nil || durable() != nil {
		t.Fatalf("a new delivery: first %v, err %v", first, err)
	}
	if first, _, _ := g.Claim(ctx, []string{"k"}, now, now, now.Add(time.Minute)); first {
		t.Error("a repeated delivery was taken for new")
	}
}
