package health_test

import (
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/schedule"
)

// parse is the kernel scheduler's cron dialect, as the wiring hands it.
func parse(spec, tz string) (health.Schedule, error) { return schedule.Parse(spec, tz) }

// world is the module in actionstest's world: a real engine on bbolt,
// the scheduler driven by the test's clock, and a chat that remembers.
type world struct {
	*actionstest.World
	checks []health.Check
	opts   health.Options
	mod    *health.Module
}

func newWorld(t *testing.T, checks []health.Check, tweak ...func(*health.Options)) *world {
	t.Helper()
	w := &world{checks: checks, opts: health.Options{Parse: parse}}
	for _, f := range tweak {
		f(&w.opts)
	}
	w.World = actionstest.New(t, actionstest.Options{Setup: w.setup, Policy: people, KeepChat: true})
	// The world's own Close does not know the module: let probes in
	// flight finish before the store closes.
	t.Cleanup(func() {
		if w.mod != nil {
			w.mod.Close()
		}
	})
	return w
}

// people are actionstest's people with the demo config's grants of the
// health commands: viewers look, operators act.
func people() *actions.Policy {
	return actions.NewPolicy(
		[]*actions.Person{
			{Name: "alice", Roles: []string{"admin"}, IDs: map[string]string{actionstest.Platform: "UALICE"}},
			{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{actionstest.Platform: "UBOB"}},
			{Name: "carol", Roles: []string{"viewer"}},
		},
		[]*actions.Role{
			{Name: "viewer", Allow: []string{"help", "checks", "check", "incidents", "incident"}},
			{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"ack", "resolve", "snooze"}, Environments: []string{"staging"}},
			{Name: "admin", Inherit: []string{"operator"}, Allow: []string{"*"}, Environments: []string{"*"}},
		},
		nil,
	)
}

// setup makes the module, as the wiring does at every start.
func (w *world) setup(aw *actionstest.World) {
	if w.mod != nil {
		w.mod.Close()
	}
	h, err := aw.Engine.Module(health.Name, health.Buckets...)
	if err != nil {
		aw.T.Fatal(err)
	}
	w.mod, err = health.New(h, w.checks, w.opts)
	if err != nil {
		aw.T.Fatal(err)
	}
}

// step moves the clock by d, fires what is due and waits for the checks
// it started.
func (w *world) step(d time.Duration) {
	w.T.Helper()
	w.Clock.Advance(d)
	w.Tick()
	w.mod.Wait()
}

// restart stops infrabot and starts it again on the same store.
func (w *world) restart() {
	w.mod.Close()
	w.Restart()
}

// posts returns the messages posted in the default channel whose summary
// holds s, in their latest state.
func (w *world) posts(s string) []actions.Message { return w.Chat.Sent("C0DEFAULT", s) }

// onePost expects exactly one message in the default channel holding s.
func (w *world) onePost(s string) actions.Message {
	w.T.Helper()
	return w.One("C0DEFAULT", s)
}

func buttons(m actions.Message) []string {
	var out []string
	for _, b := range m.Buttons {
		out = append(out, b.Label+"="+b.Command)
	}
	return out
}

// gate is a handler that holds every request until opened.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }
