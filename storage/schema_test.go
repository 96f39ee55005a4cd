package storage_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/storage"
)

// writeRaw makes a bbolt file by hand, as another version of infrabot
// would have left it.
func writeRaw(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
	b.Close()
}

func TestOpenUpgradesAFileWithoutASchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	run := map[string]any{
		"ID": 1, "Action": "teardown", "Env": "staging", "State": "awaiting-approval", "Person": "bob",
		"Approval": map[string]any{"State": "pending", "Message": map[string]string{"Platform": "slack", "Channel": "C1", "ID": "1.2"}},
	}
	data, _ := json.Marshal(run)
	writeRaw(t, path, func(tx *bolt.Tx) error {
		for _, n := range []string{"audit", "runs", "locks", "meta"} {
			if _, err := tx.CreateBucket([]byte(n)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("runs")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 1}, data)
	})
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.Run(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []actions.MessageRef{{Platform: "slack", Channel: "C1", ID: "1.2"}}
	if r.Approval == nil || len(r.Approval.Messages) != 1 || r.Approval.Messages[0] != want[0] {
		t.Fatalf("after the upgrade the request's message copies are %+v, want %+v", r.Approval, want)
	}
	// The open-runs index was built too: the pending request is found.
	open, err := db.Runs(context.Background(), actions.RunFilter{States: []actions.RunState{actions.AwaitingApproval}})
	if err != nil || len(open) != 1 {
		t.Fatalf("open runs after upgrade: %v, %v", open, err)
	}
}

func TestOpenRefusesAStoreFromANewerInfrabot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	writeRaw(t, path, func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return meta.Put([]byte("schema-version"), []byte{0, 0, 0, 0, 0, 0, 0, 99})
	})
	_, err := storage.Open(path)
	if err == nil || !strings.Contains(err.Error(), "newer infrabot (store layout 99") {
		t.Fatalf("opening a layout-99 store: %v", err)
	}
}

func TestModuleStoreKeepsItsBucketsAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "infrabot.db")
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := db.ModuleStore("health", []string{"checks", "incidents"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx actions.Tx) error {
		if tx.Bucket("other") != nil {
			t.Error("a bucket the module did not declare is reachable")
		}
		return tx.Bucket("incidents").Put([]byte("1"), []byte("open"))
	})
	if err != nil {
		t.Fatal(err)
	}
	// A failed transaction changes nothing.
	s.Update(ctx, func(tx actions.Tx) error {
		tx.Bucket("incidents").Put([]byte("2"), []byte("open"))
		return actions.Errorf(actions.Conflict, "no")
	})
	db.Close()

	db, err = storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, _ := db.ModuleStore("cijobs", []string{"incidents"})
	other.View(ctx, func(tx actions.Tx) error {
		if v := tx.Bucket("incidents").Get([]byte("1")); v != nil {
			t.Error("one module reads another's bucket of the same name")
		}
		return nil
	})
	s, _ = db.ModuleStore("health", []string{"checks", "incidents"})
	s.View(ctx, func(tx actions.Tx) error {
		if v := tx.Bucket("incidents").Get([]byte("1")); string(v) != "open" {
			t.Errorf("incident 1 after restart: %q", v)
		}
		if v := tx.Bucket("incidents").Get([]byte("2")); v != nil {
			t.Error("a rolled-back write survived")
		}
		return nil
	})
}
