package storage_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/infrabot/infrabot/storage"
)

// The store's replay log: what Remember stored is read back by
// Remembered until its time, with FirstSeen's keys; Unremember drops a
// key; expired keys leave the log as new ones come.
func TestReplayLogRemembersUntilTheirTime(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "infrabot.db")
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for i, k := range []string{"sig:aa", "trigger:1", "sig:bb"} {
		if err := db.Remember([]string{k}, now, now.Add(time.Duration(10+i)*time.Minute))(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.FirstSeen(ctx, []string{"discord:1"}, now, now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.Unremember(ctx, map[string]time.Time{"trigger:1": now.Add(11 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = storage.Open(path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	remembered := func(at time.Time) map[string]time.Time {
		t.Helper()
		got := map[string]time.Time{}
		if err := db.Remembered(at, func(k string, until time.Time) { got[k] = until }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := remembered(now.Add(time.Minute))
	if len(got) != 3 || !got["sig:aa"].Equal(now.Add(10*time.Minute)) || !got["sig:bb"].Equal(now.Add(12*time.Minute)) || got["discord:1"].IsZero() {
		t.Errorf("after a reopen, remembered %v; want sig:aa, sig:bb and discord:1, not the unremembered trigger:1", got)
	}
	if got := remembered(now.Add(10 * time.Minute)); len(got) != 1 || got["sig:bb"].IsZero() {
		t.Errorf("at 10 minutes, remembered %v; want only sig:bb", got)
	}
	// A new key, 20 minutes on, sweeps the expired ones out of the log.
	later := now.Add(20 * time.Minute)
	if err := db.Remember([]string{"sig:cc"}, later, later.Add(10*time.Minute))(); err != nil {
		t.Fatal(err)
	}
	if n := db.ReplayLogLen(); n != 1 {
		t.Errorf("the log holds %d keys after a sweep, want 1", n)
	}
}

func TestReplayStoreForgetsAfterTheWindow(t *testing.T) {
	t.Parallel()
	db, err := storage.Open(filepath.Join(t.TempDir(), "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	first := func(at time.Time, keys ...string) bool {
		t.Helper()
		ok, err := db.FirstSeen(ctx, keys, at, at.Add(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !first(now, "sig:aa", "trigger:1") {
		t.Fatal("a new request was taken for a replay")
	}
	if first(now.Add(time.Minute), "sig:bb", "trigger:1") {
		t.Error("a request sharing a key with one seen was not refused")
	}
	if !first(now.Add(time.Minute), "sig:bb") {
		t.Error("a refused request's other keys were recorded")
	}
	if err := db.Forget(ctx, []string{"sig:bb"}); err != nil {
		t.Fatal(err)
	}
	if !first(now.Add(2*time.Minute), "sig:bb") {
		t.Error("a forgotten key is still seen")
	}
	if !first(now.Add(11*time.Minute), "sig:aa") {
		t.Error("a key is kept past its time")
	}
}
