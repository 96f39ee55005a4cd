package actions_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// TestWording checks the small words: counts agree with their nouns, the
// audit's ids line up past 9, and an unknown person with no platform id is
// not shown an empty one.
func TestWording(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("alice", "deploy staging"), false, "run 1 started")
	close(w.gate)
	w.Engine.Wait()
	w.Expect(w.As("alice", "runs"), false, "1 recent run")
	if r := w.As("alice", "runs"); strings.Contains(r.Summary, "runs") {
		t.Errorf("one run is called runs: %s", r.Summary)
	}
	for range 6 {
		w.As("carol", "whoami")
	}
	r := w.As("alice", "audit 12")
	if len(r.Lines) != 12 {
		t.Fatalf("audit 12 gave %d lines", len(r.Lines))
	}
	col := strings.Index(r.Lines[0], " 20")
	for _, l := range r.Lines {
		if strings.Index(l, " 20") != col {
			t.Errorf("audit lines do not line up:\n%s", strings.Join(r.Lines, "\n"))
			break
		}
	}
	w.Expect(w.As("alice", "audit 1"), false, "the last audit record")
	w.Expect(w.As("zed", "whoami"), false, "infrabot does not know you; you may use only `help` and `whoami`")
	reply := w.Engine.Execute(context.Background(), actions.Invocation{Person: "", Text: "whoami", Origin: actions.Origin{Platform: "test", UserID: "U9"}})
	w.Expect(reply, false, "infrabot does not know you (test user U9)")
}

// TestExpiryIsSaidOnce checks that the reply and the request's message
// give the same time left.
func TestExpiryIsSaidOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Expect(w.As("bob", "teardown staging"), false, "request 1 awaits approval by operator, admin (expires in 15m00s)")
	m, ok := w.Chat.Find("request 1")
	if !ok {
		t.Fatal("no request message")
	}
	if !strings.Contains(m.Text, "expires in 15m00s") {
		t.Errorf("the request says %q, the reply 15m00s", m.Text)
	}
}

// TestRunMessageShape checks how a run reads: the summary says state, who
// and time and no field repeats them; an ended run keeps its usual
// summary with the reason added; steps are in a stable order.
func TestRunMessageShape(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	r := &actions.Run{
		ID: 7, Command: "provision staging", Person: "bob", State: actions.Cancelled, Error: "cancelled by alice",
		Created: at, Started: at, Finished: at.Add(3 * time.Second),
		Plan: actions.Plan{Summary: "create 3, keep 0, delete 1"},
		Steps: []actions.Step{
			{Name: "delete staging-old-1", State: actions.Succeeded, Started: at, Finished: at},
			{Name: "create staging-web-10", State: actions.Cancelled, Started: at},
			{Name: "create staging-db-1", State: actions.Succeeded, Started: at, Finished: at},
			{Name: "create staging-web-2", State: actions.Cancelled, Started: at},
		},
	}
	m := actions.RunMessage(r, at.Add(time.Minute))
	if want := "run 7 `provision staging` by bob: cancelled (3s): cancelled by alice"; m.Summary != want {
		t.Errorf("summary %q, want %q", m.Summary, want)
	}
	if m.Text != "" {
		t.Errorf("the text %q would replace the summary", m.Text)
	}
	var labels []string
	for _, f := range m.Fields {
		labels = append(labels, f.Label)
	}
	if got := fmt.Sprint(labels); got != "[plan]" {
		t.Errorf("fields %s, want only [plan]", got)
	}
	var names []string
	for _, l := range m.Lines {
		names = append(names, strings.Fields(l)[2])
	}
	if got := strings.Join(names, " "); got != "staging-old-1 staging-db-1 staging-web-2 staging-web-10" {
		t.Errorf("steps in order %s", got)
	}
}
