package bot_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infrabot/infrabot/bot"
)

// diskReplays is a store: what it holds, and how often it was asked.
type diskReplays struct {
	held                  map[string]time.Time
	remembers, unremember int
	fail                  error
}

func (d *diskReplays) Remember(keys []string, now, until time.Time) func() error {
	d.remembers++
	if d.fail != nil {
		return func() error { return d.fail }
	}
	for _, k := range keys {
		d.held[k] = until
	}
	return func() error { return nil }
}

func (d *diskReplays) Remembered(now time.Time, fn func(string, time.Time)) error {
	for k, u := range d.held {
		if now.Before(u) {
			fn(k, u)
		}
	}
	return nil
}

func (d *diskReplays) Unremember(ctx context.Context, keys map[string]time.Time) error {
	d.unremember++
	for k, u := range keys {
		if d.held[k] == u {
			delete(d.held, k)
		}
	}
	return nil
}

func TestGuardChecksInMemoryAfterReadingWhatEarlierProcessesRemembered(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	// An earlier process accepted "old" just before it stopped; "gone"
	// long ago.
	disk := &diskReplays{held: map[string]time.Time{"old": start.Add(9 * time.Minute), "gone": start.Add(-time.Minute)}}
	g, err := bot.NewGuard(disk, "", start)
	if err != nil {
		t.Fatal(err)
	}
	claim := func(key string, now time.Time) bool {
		t.Helper()
		first, durable, err := g.Claim(ctx, []string{key}, now, now.Add(10*time.Minute))
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
	if claim("old", start.Add(time.Second)) {
		t.Fatal("a delivery an earlier process accepted was taken for new")
	}
	if !claim("gone", start.Add(time.Second)) {
		t.Fatal("a delivery remembered past its time was refused")
	}
	if !claim("a", start.Add(time.Minute)) || claim("a", start.Add(2*time.Minute)) {
		t.Fatal("a new delivery, then its copy: want the first taken and the copy refused")
	}
	// Memory answered (the store has no way to be asked); the disk was
	// written for each new delivery.
	if disk.remembers != 2 {
		t.Fatalf("%d writes on disk, want 2", disk.remembers)
	}
	if u, ok := disk.held["a"]; !ok || !u.Equal(start.Add(11*time.Minute)) {
		t.Errorf("the delivery was not stored for the next process: %v %v", u, ok)
	}

	// Forgotten: dropped from the disk too, so that its retry is new
	// again, in this process and the next.
	if err := g.Forget(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := disk.held["a"]; ok || disk.unremember != 1 {
		t.Error("a forgotten delivery stayed on disk")
	}
	if !claim("a", start.Add(3*time.Minute)) {
		t.Error("a forgotten delivery is still refused")
	}

	// A write that fails is tried once more, then said by durable, for
	// the caller to log.
	disk.fail = errors.New("disk full")
	writes := disk.remembers
	first, durable, err := g.Claim(ctx, []string{"c"}, start, start.Add(time.Minute))
	if err != nil || !first || durable() == nil || durable() == nil {
		t.Errorf("Claim with a failing disk: first %v, err %v; durable should fail", first, err)
	}
	if n := disk.remembers - writes; n != 2 {
		t.Errorf("a failed write was tried %d times, want 2", n)
	}
}

// Without a store, the guard checks and forgets in its memory alone.
func TestGuardWithoutAStoreRemembersInMemory(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	g, err := bot.NewGuard(nil, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if first, durable, err := g.Claim(ctx, []string{"k"}, now, now.Add(time.Minute)); !first || err != nil || durable() != nil {
		t.Fatalf("a new delivery: first %v, err %v", first, err)
	}
	if first, _, _ := g.Claim(ctx, []string{"k"}, now, now.Add(time.Minute)); first {
		t.Error("a repeated delivery was taken for new")
	}
	if err := g.Forget(ctx, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := g.Claim(ctx, []string{"k"}, now, now.Add(time.Minute)); !first {
		t.Error("a forgotten delivery was taken for a replay")
	}
}

// A guard reads only its own adapter's keys from the store.
func TestGuardReadsOnlyItsOwnKeys(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	disk := &diskReplays{held: map[string]time.Time{"discord:interaction:1": now.Add(time.Minute), "trigger:1": now.Add(time.Minute)}}
	g, err := bot.NewGuard(disk, "discord:", now)
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := g.Claim(ctx, []string{"discord:interaction:1"}, now, now.Add(time.Minute)); first {
		t.Error("its own key, remembered on disk, was taken for new")
	}
	if first, _, _ := g.Claim(ctx, []string{"trigger:1"}, now, now.Add(time.Minute)); !first {
		t.Error("another adapter's key was read into its memory")
	}
}
