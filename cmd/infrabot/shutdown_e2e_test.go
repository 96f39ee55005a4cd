package main_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
	"github.com/infrabot/infrabot/storage"
)

// slackDown makes every chat.postMessage fail with a 503 for the rest of
// the test: the outbox retries each for about a minute before it gives up.
func slackDown(fake *slacktest.Server) {
	faults := make([]slacktest.Fault, 500)
	for i := range faults {
		faults[i] = slacktest.Fault{Method: "chat.postMessage", Status: 503}
	}
	fake.Fail(faults...)
}

// auditOf reads, once infrabot has let go of the store in dir, run id's
// state and the audit log's events ("event(run N)").
func auditOf(t *testing.T, dir string, id int64) (actions.RunState, []string) {
	t.Helper()
	db, err := storage.Open(filepath.Join(dir, "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run, err := db.Run(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := db.Tail(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range entries {
		events = append(events, fmt.Sprintf("%s(run %d)", e.Event, e.Run))
	}
	return run.State, events
}

// TestStopPastGraceIsBoundedWhileSlackIsDown: a run whose message could
// not be posted when it started is cut off by SIGTERM past the grace
// period while Slack is down. The stop does not wait for Slack (its final
// message is tried for a few seconds, not for the outbox's minute of
// retries), the log names the run cut off, and its outcome is in the
// audit log.
func TestStopPastGraceIsBoundedWhileSlackIsDown(t *testing.T) {
	t.Parallel()
	sim := slowSimulator(t, 3*time.Second)
	s := startService(t, sim, "shutdown: {grace: 300ms}\n")
	// Slack refuses the run's start message (so the run has no message
	// to update, and the command's reply still goes in its
	// acknowledgement), then is down for every message after it.
	s.fake.Fail(slacktest.Fault{Method: "chat.postMessage", Status: 400})
	slackDown(s.fake)
	s.slack.Command(t, "U01ALICE", "C0INFRA", "provision staging")
	s.waitLog("the start message refused", func(r map[string]any) bool { return r["msg"] == "posting to chat failed" })
	s.signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(45 * time.Second):
		// What the service manager does at its stop timeout.
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("infrabot run was still stopping 45s after SIGTERM (grace 300ms, Slack down); killed")
	}
	state, events := auditOf(t, s.b.dir, 1)
	if state != actions.Interrupted || !slices.Contains(events, "outcome(run 1)") {
		t.Errorf("run 1 is %s; the audit log: %s", state, strings.Join(events, ", "))
	}
	s.waitLog("the run cut off", func(r map[string]any) bool {
		return strings.Contains(fmt.Sprint(r["msg"]), "cut off") && fmt.Sprint(r["run"]) == "1"
	})
}

// TestRestartAfterACrashServesWhileSlackIsDown: infrabot crashed with two
// runs going, and Slack is down when it comes back. The runs are marked
// interrupted and audited before it serves, but their announcements in
// chat are not waited for: /healthz answers at once, and a stop soon
// after does not wait for them either.
func TestRestartAfterACrashServesWhileSlackIsDown(t *testing.T) {
	t.Parallel()
	b := newBot(t, startSimulator(t))
	db, err := storage.Open(filepath.Join(b.dir, "infrabot.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"staging", "scratch"} {
		r := &actions.Run{Action: "provision", Env: env, Command: "provision " + env, Person: "alice",
			Origin: actions.Origin{Platform: "slack", Channel: "C0INFRA", UserID: "U01ALICE"}, State: actions.Running,
			Created: time.Now(), Started: time.Now()}
		if err := db.CreateRun(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := &service{t: t, b: b, fake: slacktest.NewServer(t, e2eBotToken), logs: &actionstest.Buffer{},
		config: filepath.Join(b.dir, "service.yaml"), done: make(chan error, 1)}
	slackDown(s.fake)
	public, adminAddr := actionstest.FreeAddr(t), actionstest.FreeAddr(t)
	if err := os.WriteFile(s.config, serviceConfig(t, b, s.fake, public, adminAddr, ""), 0o600); err != nil {
		t.Fatal(err)
	}
	s.launch()
	// The admin port accepts from the start (the kernel does): a probe
	// without a timeout would wait, as a kubelet's does not.
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get("http://" + adminAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still does not answer 20s after start (Slack down, 2 interrupted runs to announce): %v", err)
		}
	}
	s.waitLog("an announcement tried", func(r map[string]any) bool { return r["msg"] == "a call failed; retrying" })
	s.signal(syscall.SIGTERM)
	if err := s.wait(45 * time.Second); err != nil {
		t.Errorf("infrabot run did not stop cleanly: %v", err)
	}
	for id := int64(1); id <= 2; id++ {
		state, events := auditOf(t, b.dir, id)
		if want := fmt.Sprintf("interrupted(run %d)", id); state != actions.Interrupted || !slices.Contains(events, want) {
			t.Errorf("run %d is %s; the audit log: %s", id, state, strings.Join(events, ", "))
		}
	}
}
