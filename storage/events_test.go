package storage_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/storage"
)

func TestRunEventsAreAppendedPerRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "infrabot.db")
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if err := db.CreateRun(ctx, &actions.Run{Command: "deploy staging", State: actions.Running}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	step := actions.Step{Name: "deploy", State: actions.Running, Started: at}
	if err := db.AppendRunEvents(ctx, 1, actions.RunEvent{Time: at, Step: &step}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := db.AppendRunEvents(ctx, 1, actions.RunEvent{Time: at, Note: fmt.Sprint("line ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AppendRunEvents(ctx, 2, actions.RunEvent{Time: at, Note: "other run"}); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendRunEvents(ctx, 9, actions.RunEvent{Note: "no such run"}); actions.ErrorKind(err) != actions.NotFound {
		t.Errorf("appending to a run that does not exist: %v, want not found", err)
	}

	all, err := db.RunEvents(ctx, 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 || all[0].Step == nil || all[0].Step.Name != "deploy" || all[3].Note != "line 2" || all[3].Seq != 4 {
		t.Fatalf("run 1's events: %+v", all)
	}
	after, err := db.RunEvents(ctx, 1, 2, 1)
	if err != nil || len(after) != 1 || after[0].Seq != 3 {
		t.Fatalf("events after 2, at most 1: %+v, %v", after, err)
	}

	// The run record does not grow with its progress.
	size := func() int {
		db.Close()
		b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		n := 0
		b.View(func(tx *bolt.Tx) error { n = len(tx.Bucket([]byte("runs")).Get(key(1))); return nil })
		return n
	}
	before := size()
	db, err = storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := db.AppendRunEvents(ctx, 1, actions.RunEvent{Time: at, Note: fmt.Sprint("more ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if after := size(); after != before {
		t.Errorf("the run record grew from %d to %d bytes with its events", before, after)
	}
}
