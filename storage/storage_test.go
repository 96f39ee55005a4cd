package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/storage"
)

func openAudit(t *testing.T, n int) (string, *storage.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "infrabot.db")
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		_, err := db.Append(context.Background(), actions.AuditEntry{
			Time: time.Date(2026, 11, 21, 12, 0, i, 0, time.UTC), Person: "bob", Event: "request", Detail: "lock staging",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return path, db
}

// tamper edits the raw bbolt file, as someone with access to it could.
func tamper(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// rewrite returns a change that decodes audit record n, applies edit and
// stores it back in place.
func rewrite(n uint64, edit func(*actions.AuditEntry)) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		var e actions.AuditEntry
		if err := json.Unmarshal(b.Get(key(n)), &e); err != nil {
			return err
		}
		edit(&e)
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put(key(n), raw)
	}
}

func key(n uint64) []byte {
	k := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		k[i] = byte(n)
		n >>= 8
	}
	return k
}

func TestAuditChainDetectsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(tx *bolt.Tx) error
		broken uint64
		reason string
	}{
		{"edited detail", rewrite(3, func(e *actions.AuditEntry) { e.Detail = "nothing to see" }), 3, "edited"},
		{"edited and re-hashed", rewrite(2, func(e *actions.AuditEntry) {
			e.Person = "alice"
			e.Hash = e.ComputeHash()
		}), 3, "does not follow"},
		{"last record replaced and re-hashed", rewrite(5, func(e *actions.AuditEntry) {
			e.Detail = "unlock staging"
			e.Hash = e.ComputeHash()
		}), 5, "was replaced"},
		{"deleted in the middle", func(tx *bolt.Tx) error { return tx.Bucket([]byte("audit")).Delete(key(2)) }, 2, "missing"},
		{"deleted at the end", func(tx *bolt.Tx) error { return tx.Bucket([]byte("audit")).Delete(key(5)) }, 5, "missing"},
		{"two records swapped", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("audit"))
			third, fourth := bytes.Clone(b.Get(key(3))), bytes.Clone(b.Get(key(4)))
			if err := b.Put(key(3), fourth); err != nil {
				return err
			}
			return b.Put(key(4), third)
		}, 3, "holds record 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, db := openAudit(t, 5)
			if n, err := db.VerifyAudit(context.Background()); err != nil || n != 5 {
				t.Fatalf("untouched log: %d records, %v", n, err)
			}
			db.Close()
			tamper(t, path, tc.change)
			db, err := storage.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			_, err = db.VerifyAudit(context.Background())
			var ce *actions.ChainError
			if !errors.As(err, &ce) || ce.Seq != tc.broken || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("verify = %v, want record %d %q", err, tc.broken, tc.reason)
			}
		})
	}
}

func TestAuditAppendAfterReopenContinuesChain(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 2)
	db.Close()
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := db.Append(context.Background(), actions.AuditEntry{Time: time.Now(), Person: "alice", Event: "request"})
	if err != nil || e.Seq != 3 {
		t.Fatalf("append = %+v, %v", e, err)
	}
	if n, err := db.VerifyAudit(context.Background()); err != nil || n != 3 {
		t.Errorf("verify = %d, %v", n, err)
	}
	tail, _ := db.Tail(context.Background(), 2)
	if len(tail) != 2 || tail[0].Seq != 2 || tail[1].Seq != 3 {
		t.Errorf("tail = %+v", tail)
	}
}

func TestOpenWhileHeldSaysSo(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 0)
	defer db.Close()
	_, err := storage.Open(path)
	if err == nil || !strings.Contains(err.Error(), "in use by another infrabot process") {
		t.Fatalf("second open = %v", err)
	}
}

func TestUpdateRunErrorChangesNothing(t *testing.T) {
	t.Parallel()
	_, db := openAudit(t, 0)
	defer db.Close()
	ctx := context.Background()
	r := &actions.Run{Action: "teardown", Env: "staging", State: actions.AwaitingApproval}
	if err := db.CreateRun(ctx, r); err != nil || r.ID != 1 {
		t.Fatal(r.ID, err)
	}
	_, err := db.UpdateRun(ctx, 1, func(r *actions.Run) error {
		r.State = actions.Running
		return actions.Errorf(actions.Conflict, "no")
	})
	if actions.ErrorKind(err) != actions.Conflict {
		t.Fatal(err)
	}
	if got, _ := db.Run(ctx, 1); got.State != actions.AwaitingApproval {
		t.Errorf("state changed to %s by a failed update", got.State)
	}
	if _, err := db.Run(ctx, 99); actions.ErrorKind(err) != actions.NotFound {
		t.Errorf("missing run: %v", err)
	}
}

func TestOpenRunsIndex(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 0)
	ctx := context.Background()
	for _, st := range []actions.RunState{actions.Succeeded, actions.AwaitingApproval, actions.Running, actions.Failed, actions.AwaitingApproval} {
		if err := db.CreateRun(ctx, &actions.Run{Action: "teardown", State: st}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(db *storage.DB, states ...actions.RunState) []int64 {
		runs, err := db.Runs(ctx, actions.RunFilter{States: states})
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	if got := ids(db, actions.AwaitingApproval); !slices.Equal(got, []int64{5, 2}) {
		t.Errorf("awaiting = %v, want [5 2]", got)
	}
	if _, err := db.UpdateRun(ctx, 2, func(r *actions.Run) error { r.State = actions.Expired; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := ids(db, actions.AwaitingApproval, actions.Running); !slices.Equal(got, []int64{5, 3}) {
		t.Errorf("open after expiring 2 = %v, want [5 3]", got)
	}
	if got := ids(db, actions.Expired); !slices.Equal(got, []int64{2}) {
		t.Errorf("expired = %v, want [2]", got)
	}

	// A store written before the index existed gets it built at open.
	db.Close()
	tamper(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("open-runs")) })
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := ids(db, actions.Running, actions.AwaitingApproval); !slices.Equal(got, []int64{5, 3}) {
		t.Errorf("open after rebuilding the index = %v, want [5 3]", got)
	}
}

func TestAuditKeepsExactBytes(t *testing.T) {
	t.Parallel()
	_, db := openAudit(t, 0)
	defer db.Close()
	detail := "lock staging \x1b]0;pwned\x07\r\u202e"
	if _, err := db.Append(context.Background(), actions.AuditEntry{Time: time.Now(), Person: "bob", Event: "request", Detail: detail}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Tail(context.Background(), 1)
	if err != nil || len(got) != 1 || got[0].Detail != detail {
		t.Fatalf("the record holds %+v (%v), want the bytes typed", got, err)
	}
	if _, err := db.VerifyAudit(context.Background()); err != nil {
		t.Fatalf("a record with control characters does not verify: %v", err)
	}
}

// The store's readiness check answers within its time, even when reads
// wait: here a write that grows the file past bbolt's map waits to remap
// it for a read transaction that stays open, and every read begun after
// that write waits for it. The check says the store is busy instead of
// hanging the readiness endpoint.
func TestSizeSaysBusyWithinItsTimeWhenReadsWait(t *testing.T) {
	t.Parallel()
	db, err := storage.OpenWithSmallMap(filepath.Join(t.TempDir(), "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	release := db.HoldRead()
	wrote := make(chan error, 1)
	go func() { wrote <- grow(db, 128, 64<<10) }() // 8 MiB: past the map

	for deadline := time.Now().Add(20 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		answered := make(chan error, 1)
		go func() { _, err := db.Size(ctx); answered <- err }()
		var err error
		select {
		case err = <-answered:
		case <-time.After(10 * time.Second):
			release()
			t.Fatal("the readiness check still waits 10s after its 50ms ran out")
		}
		cancel()
		if err != nil {
			if !errors.Is(err, storage.ErrBusy) {
				t.Errorf("%v, want it to say the store is busy", err)
			}
			break
		}
		if time.Now().After(deadline) {
			release()
			t.Fatal("the write never came to wait for the open read")
		}
		time.Sleep(10 * time.Millisecond)
	}
	release()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if _, err := db.Size(context.Background()); err != nil {
		t.Errorf("once the read is over: %v", err)
	}
}
