package health_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/health/healthtest"
	"github.com/infrabot/infrabot/actions/schedule"
)

// parse is the kernel scheduler's cron dialect, as the wiring hands it.
func parse(spec, tz string) (health.Schedule, error) { return schedule.Parse(spec, tz) }

// world is the module in actionstest's world: a real engine on bbolt,
// the scheduler driven by the test's clock, a chat that remembers, and
// an escalation policy that remembers what it is told.
type world struct {
	*actionstest.World
	checks []health.Check
	opts   health.Options
	mod    *health.Module
	pager  *pager
	other  actions.Chat // the default channel's second platform, if any
}

func newWorld(t *testing.T, checks []health.Check, tweak ...func(*health.Options)) *world {
	t.Helper()
	return newWorldOn(t, checks, nil, tweak...)
}

// newWorldOn is newWorld with the default channel also on a second
// platform, other (none when nil), as channel C2DEFAULT.
func newWorldOn(t *testing.T, checks []health.Check, other actions.Chat, tweak ...func(*health.Options)) *world {
	t.Helper()
	w := &world{checks: checks, opts: health.Options{Parse: parse}, pager: &pager{}, other: other}
	for _, f := range tweak {
		f(&w.opts)
	}
	o := actionstest.Options{Setup: w.setup, Policy: people, KeepChat: true}
	if other != nil {
		o.Channels = actions.Channels{"default": {actionstest.Platform: "C0DEFAULT", otherPlatform: "C2DEFAULT"}}
		o.ApprovalsChannel = "default"
	}
	w.World = actionstest.New(t, o)
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
	if w.other != nil {
		aw.Engine.AddChat(otherPlatform, w.other)
	}
	h, err := aw.Engine.Module(health.Name, health.Buckets...)
	if err != nil {
		aw.T.Fatal(err)
	}
	w.mod, err = health.New(h, w.checks, w.opts)
	if err != nil {
		aw.T.Fatal(err)
	}
	aw.Engine.SetEscalation(w.pager)
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

// crash is a kill -9 of w now: it returns next (a fresh world) started
// on a copy of w's store as it is on disk, at w's time. w goes on, but
// nothing it does from now on is seen by next.
func crash(w, next *world) *world {
	w.T.Helper()
	path := filepath.Join(w.T.TempDir(), "crashed.db")
	if err := w.DB.Backup(path); err != nil {
		w.T.Fatal(err)
	}
	next.mod.Close()
	next.Close()
	next.Path, next.Clock = path, actionstest.NewClock(w.Clock.Now())
	next.Open()
	return next
}

// posts returns the messages posted in the default channel whose summary
// holds s, in their latest state.
func (w *world) posts(s string) []actions.Message { return w.Chat.Sent("C0DEFAULT", s) }

// onePost expects exactly one message in the default channel holding s.
func (w *world) onePost(s string) actions.Message {
	w.T.Helper()
	return w.One("C0DEFAULT", s)
}

// failingService is a service whose checks fail until the test says
// otherwise.
func failingService(t *testing.T) *healthtest.Service {
	tg := healthtest.NewService(t)
	tg.Failing.Store(true)
	return tg
}

// openIncident steps w through the two failures that open an incident
// and returns the one message in the default channel holding s.
func (w *world) openIncident(s string) actions.Message {
	w.T.Helper()
	w.step(time.Minute)
	w.step(time.Minute)
	return w.onePost(s)
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

// pager is an escalation policy that remembers what it is told, one
// "acknowledged 1 by bob" a line; its first level pages bob. While hang
// is set, telling it of that change hangs until released, as on-call
// waits for its store.
type pager struct {
	mu      sync.Mutex
	told    []string
	hang    actions.IncidentChange
	hanging chan struct{} // one value when a call first hangs
	release chan struct{} // closed by the test
}

func (p *pager) Responders(string) []string { return []string{"bob"} }

func (p *pager) IncidentChanged(ctx context.Context, ev actions.IncidentEvent) {
	line := fmt.Sprintf("%s %d", ev.Change, ev.ID)
	if ev.By != "" {
		line += " by " + ev.By
	}
	if ev.Change == actions.IncidentSnoozed {
		line += " until " + actions.Stamp(ev.Until)
	}
	p.mu.Lock()
	p.told = append(p.told, line)
	hang, hanging, release := ev.Change == p.hang, p.hanging, p.release
	p.mu.Unlock()
	if hang {
		select {
		case hanging <- struct{}{}:
		default:
		}
		<-release
	}
}

// hangOn makes telling p of change hang until the returned release is
// called.
func (p *pager) hangOn(change actions.IncidentChange) (release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hang, p.hanging, p.release = change, make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	ch := p.release
	return func() { once.Do(func() { close(ch) }) }
}

// waitHanging waits until telling p hangs.
func (p *pager) waitHanging(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	hanging := p.hanging
	p.mu.Unlock()
	select {
	case <-hanging:
	case <-time.After(10 * time.Second):
		t.Fatalf("the escalation policy was never told %s", p.hang)
	}
}

// Told returns what p was told, one change a line.
func (p *pager) Told() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.told, "\n")
}

// otherPlatform is a second chat platform's name, beside actionstest's.
const otherPlatform = "other"

// slowChat is a second platform whose message updates hang until
// released, as a 429 with a long Retry-After holds them.
type slowChat struct {
	mu      sync.Mutex
	posts   int
	hanging chan struct{} // one value when an update first hangs
	release chan struct{} // closed by open
	once    sync.Once
}

func newSlowChat() *slowChat {
	return &slowChat{hanging: make(chan struct{}, 1), release: make(chan struct{})}
}

// open lets updates through, those hanging and those to come.
func (c *slowChat) open() { c.once.Do(func() { close(c.release) }) }

func (c *slowChat) Post(ctx context.Context, channel string, m actions.Message) (actions.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts++
	return actions.MessageRef{Platform: otherPlatform, Channel: channel, ID: fmt.Sprint(c.posts)}, nil
}

func (c *slowChat) Direct(ctx context.Context, userID string, m actions.Message) (actions.MessageRef, error) {
	return c.Post(ctx, "dm:"+userID, m)
}

func (c *slowChat) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	select {
	case c.hanging <- struct{}{}:
	default:
	}
	<-c.release
	return nil
}

// waitHanging waits until an update hangs on c.
func (c *slowChat) waitHanging(t *testing.T, what string) {
	t.Helper()
	select {
	case <-c.hanging:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never reached the slow platform", what)
	}
}
