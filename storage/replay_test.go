package storage_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/storage"
)

// The store's replay log: what Remember stored is read back by
// Remembered until its time; Unremember drops a key; expired keys leave
// the log as new ones come.
func TestReplayLogRemembersUntilTheirTime(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "infrabot.db")
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for i, k := range []string{"sig:aa", "trigger:1", "sig:bb", "discord:1"} {
		if err := db.Remember([]string{k}, now, now.Add(time.Duration(10+min(i, 2))*time.Minute))(); err != nil {
			t.Fatal(err)
		}
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
	if got := remembered(now.Add(10 * time.Minute)); len(got) != 2 || got["sig:bb"].IsZero() || got["discord:1"].IsZero() {
		t.Errorf("at 10 minutes, remembered %v; want sig:bb and discord:1", got)
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

// A store written before the replay log kept its keys in the replays
// bucket: opening it moves the keys still remembered to the log, drops
// the expired ones and the bucket.
func TestOldReplaysMoveToTheLogWhenOpened(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "infrabot.db")
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	now := time.Now()
	raw, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	until := func(d time.Duration) []byte { return binary.BigEndian.AppendUint64(nil, uint64(now.Add(d).UnixNano())) }
	err = raw.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("replays"))
		if err != nil {
			return err
		}
		for k, v := range map[string][]byte{"trigger:live": until(5 * time.Minute), "sig:gone": until(-time.Minute), "\x00sweep-at": until(time.Minute)} {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}

	if db, err = storage.Open(path); err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	if err := db.Remembered(now, func(k string, until time.Time) { got[k] = until }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if len(got) != 1 || !got["trigger:live"].Equal(time.Unix(0, now.Add(5*time.Minute).UnixNano())) {
		t.Errorf("remembered %v; want trigger:live alone, until its time", got)
	}
	if raw, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("replays")) != nil {
			t.Error("the old replays bucket is still there")
		}
		return nil
	})
}
