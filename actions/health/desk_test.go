package health_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/health"
)

// A note written in an incident's timeline (on-call's "PagerDuty ci
// trigger taken") while its resolution waits to be written joins the
// resolution: after a restart the incident is resolved, with the note.
func TestNoteWhileAResolutionIsStoredKeepsBoth(t *testing.T) {
	t.Parallel()
	tg := failingService(t)
	w := newWorld(t, []health.Check{httpCheck("registry", tg.URL)})
	w.openIncident("incident 1")

	// Another module holds the store's one writer, as a slow fsync would.
	ctx := context.Background()
	other, err := w.DB.ModuleStore("slow-writer", []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	holding, letGo := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(letGo) }) }
	defer release()
	go other.Update(ctx, func(actions.Tx) error {
		close(holding)
		<-letGo
		return nil
	})
	<-holding

	// Through the desk, as on-call resolves: a command would wait to be
	// audited first.
	var busy sync.WaitGroup
	busy.Go(func() {
		if err := w.mod.Resolve(ctx, 1, "bob", "pagerduty"); err != nil {
			t.Errorf("Resolve: %v", err)
		}
	})
	actionstest.WaitFor(t, func() bool { m, _ := w.mod.IncidentsSection(ctx, time.Time{}); return m.Summary == "" })
	// The resolution waits to be written (the module's writer takes what
	// came within 100 ms); the note comes after it, and waits too.
	time.Sleep(200 * time.Millisecond)
	busy.Go(func() {
		if err := w.mod.Note(ctx, 1, "PagerDuty ci trigger taken"); err != nil {
			t.Errorf("Note: %v", err)
		}
	})
	time.Sleep(50 * time.Millisecond)
	release()
	busy.Wait()
	w.mod.Wait()

	w.restart()
	w.Expect(w.As("alice", "incidents"), false, "0 open incidents")
	w.Expect(w.As("alice", "incident 1"), false, "resolved by bob", "resolved in pagerduty", "PagerDuty ci trigger taken")
}
