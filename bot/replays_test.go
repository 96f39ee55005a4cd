package bot_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/infrabot/infrabot/bot"
)

func TestMemoryReplaysRememberUntilTheirTimeThenForget(t *testing.T) {
	ctx := context.Background()
	r := bot.NewMemoryReplays()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	until := t0.Add(10 * time.Minute)
	first := func(at time.Time, keys ...string) bool {
		t.Helper()
		ok, err := r.FirstSeen(ctx, keys, at, until)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !first(t0, "slack:trigger:1", "slack:sig:ab") {
		t.Fatal("a new delivery was taken for a replay")
	}
	if first(t0.Add(time.Minute), "slack:sig:ab") {
		t.Fatal("a replayed signature was taken for a new delivery")
	}
	if first(t0.Add(time.Minute), "slack:trigger:2", "slack:trigger:1") {
		t.Fatal("a delivery sharing one key with an earlier one was let through")
	}
	if !first(t0.Add(time.Minute), "slack:trigger:2") {
		t.Fatal("a refused FirstSeen recorded its keys")
	}
	r.Forget(ctx, []string{"slack:sig:ab"})
	if !first(t0.Add(2*time.Minute), "slack:sig:ab") {
		t.Fatal("a forgotten key is still remembered")
	}
	if !first(until.Add(time.Second), "slack:trigger:1") {
		t.Fatal("a key is remembered past its time")
	}
}

// Expired keys leave memory as new ones come, and a key remembered again,
// until later, outlives its first entry.
func TestMemoryReplaysDropExpiredKeysAsNewOnesCome(t *testing.T) {
	ctx := context.Background()
	r := bot.NewMemoryReplays()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range 5000 {
		r.FirstSeen(ctx, []string{fmt.Sprintf("k%d", i)}, t0, t0.Add(time.Minute))
	}
	// k0 expires and is remembered again, until much later.
	if first, _ := r.FirstSeen(ctx, []string{"k0"}, t0.Add(2*time.Minute), t0.Add(time.Hour)); !first {
		t.Fatal("an expired key was refused")
	}
	for i := range 200 {
		r.FirstSeen(ctx, []string{fmt.Sprintf("new%d", i)}, t0.Add(2*time.Minute), t0.Add(time.Hour))
	}
	if n := r.Len(); n != 201 {
		t.Errorf("%d keys remembered, want the 200 new ones and k0 again", n)
	}
	if first, _ := r.FirstSeen(ctx, []string{"k0"}, t0.Add(3*time.Minute), t0.Add(time.Hour)); first {
		t.Error("a key remembered again was dropped with its first, expired entry")
	}
}
