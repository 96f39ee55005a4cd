package oncall_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/oncall"
	"github.com/infrabot/infrabot/storage"
)

// IncidentChanged stores an opened incident's escalation before it
// returns (the health module marks the incident escalated right after):
// while the store cannot take a write, it waits.
func TestIncidentOpenedIsStoredBeforeItReturns(t *testing.T) {
	t.Parallel()
	w := newWorld(t, []oncall.Escalation{issueEscalation()}, oncall.Options{})
	// Another module holds the store's one writer, as a slow fsync would.
	other, err := w.DB.ModuleStore("slow-writer", []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	holding, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	t.Cleanup(letGo)
	go other.Update(context.Background(), func(actions.Tx) error {
		close(holding)
		<-release
		return nil
	})
	<-holding

	returned := make(chan struct{})
	go func() {
		w.oncall.IncidentChanged(context.Background(), actions.IncidentEvent{
			Change: actions.IncidentOpened, ID: 77, Check: "logserver-http", Escalation: "ci-oncall",
			Summary: "incident 77", Time: w.Clock.Now(),
		})
		close(returned)
	}()
	select {
	case <-returned: // without waiting for the store: what it left is checked below
	case <-time.After(500 * time.Millisecond):
		letGo() // it waits for the store, as it should
		<-returned
	}
	// kill -9 as soon as it returned.
	path := filepath.Join(t.TempDir(), "crashed.db")
	if err := w.DB.Backup(path); err != nil {
		t.Fatal(err)
	}
	letGo()

	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.ModuleStore(oncall.Name, oncall.Buckets)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	if err := st.View(context.Background(), func(tx actions.Tx) error {
		return tx.Bucket("escalations").ForEach(func(k, v []byte) error { stored++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if stored != 1 {
		t.Errorf("IncidentChanged returned with %d escalations stored, want incident 77's", stored)
	}
}
