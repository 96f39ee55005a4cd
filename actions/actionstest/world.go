// Package actionstest is the world modules' tests run in: an engine on a
// real bbolt store in a temporary directory, the scheduler, a clock the
// test moves, a chat that remembers every message, and the people and
// roles of PRODUCT.md. A world restarts as a process would, on the same
// store.
package actionstest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/schedule"
	"github.com/infrabot/infrabot/storage"
)

// Platform is the test chat's platform name.
const Platform = "test"

// Clock is a clock the test moves by hand.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Posted is a message the chat received, with where it went.
type Posted struct {
	Ref actions.MessageRef
	// To is the channel id, or "dm:USERID" for a direct message.
	To      string
	Message actions.Message
	// Versions is every state the message had, in order: as posted, then
	// after each update.
	Versions []actions.Message
}

// Chat is an actions.Chat that remembers every message and its latest
// state. Direct messages go to "dm:USERID".
type Chat struct {
	mu    sync.Mutex
	posts []*Posted
}

// Post records m as posted to channel.
func (c *Chat) Post(ctx context.Context, channel string, m actions.Message) (actions.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref := actions.MessageRef{Platform: Platform, Channel: channel, ID: fmt.Sprint(len(c.posts) + 1)}
	c.posts = append(c.posts, &Posted{Ref: ref, To: channel, Message: m, Versions: []actions.Message{m}})
	return ref, nil
}

// Direct records m as a direct message to userID.
func (c *Chat) Direct(ctx context.Context, userID string, m actions.Message) (actions.MessageRef, error) {
	return c.Post(ctx, "dm:"+userID, m)
}

// Update replaces the recorded state of the message ref points to.
func (c *Chat) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.posts {
		if p.Ref == ref {
			p.Message = m
			p.Versions = append(p.Versions, m)
			return nil
		}
	}
	return fmt.Errorf("no message %v", ref)
}

// Find returns the latest state of the first message whose summary holds s.
func (c *Chat) Find(s string) (actions.Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.posts {
		if strings.Contains(p.Message.Summary, s) {
			return p.Message, true
		}
	}
	return actions.Message{}, false
}

// Posts returns every message posted so far, in order, in its latest state.
func (c *Chat) Posts() []Posted {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Posted, len(c.posts))
	for i, p := range c.posts {
		out[i] = *p
		out[i].Versions = slices.Clone(p.Versions)
	}
	return out
}

// Sent returns the messages sent to to (a channel id, or "dm:USERID")
// whose summary holds s, in their latest state.
func (c *Chat) Sent(to, s string) []actions.Message {
	var out []actions.Message
	for _, p := range c.Posts() {
		if p.To == to && strings.Contains(p.Message.Summary, s) {
			out = append(out, p.Message)
		}
	}
	return out
}

// Transcript lists every message sent, one "to: summary" a line, in its
// latest state: what a failing test shows.
func (c *Chat) Transcript() string {
	var b strings.Builder
	for _, p := range c.Posts() {
		b.WriteString(p.To + ": " + p.Message.Summary + "\n")
	}
	return b.String()
}

// People is the policy of PRODUCT.md's examples: alice and dave are
// admins, bob an operator on staging, carol a viewer, erin has no role.
func People() *actions.Policy {
	return actions.NewPolicy(
		[]*actions.Person{
			{Name: "alice", Roles: []string{"admin"}, IDs: map[string]string{Platform: "UALICE"}},
			{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{Platform: "UBOB"}},
			{Name: "carol", Roles: []string{"viewer"}},
			{Name: "dave", Roles: []string{"admin"}},
			{Name: "erin"},
		},
		[]*actions.Role{
			{Name: "viewer", Allow: []string{"help", "whoami", "status", "plan", "runs", "run"}},
			{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"provision", "teardown", "lock", "unlock", "cancel", "approve", "deny", "deploy"}, Environments: []string{"staging"}},
			{Name: "admin", Inherit: []string{"operator"}, Allow: []string{"*"}, Environments: []string{"*"}},
		},
		[]actions.ApprovalRule{
			{Actions: []string{"teardown"}, Environments: []string{"*"}, Approvers: []string{"operator", "admin"}, Expires: 15 * time.Minute},
			{Actions: []string{"deploy"}, Environments: []string{"production"}, Approvers: []string{"admin"}},
		},
	)
}

// Options shapes a world.
type Options struct {
	// Environments are the declared environment names; staging and
	// production by default.
	Environments []string
	// Policy is the people, roles and approval rules; People() by default.
	Policy func() *actions.Policy
	// Channels and ApprovalsChannel as in the config; by default one
	// channel, "default", which is also the approvals channel, with id
	// C0DEFAULT on the test platform.
	Channels         actions.Channels
	ApprovalsChannel string
	// Redactor is the engine's redactor; none by default.
	Redactor *actions.Redactor
	// StepOutputHead and StepOutputTail bound a step's output in the
	// run's log, and RunEventLimit the events kept per run; the engine's
	// defaults when 0.
	StepOutputHead, StepOutputTail int
	RunEventLimit                  int
	// Observer and Logger are given to the engine when set.
	Observer actions.Observer
	Logger   *slog.Logger
	// KeepChat keeps the chat across restarts, as a real channel outlives
	// infrabot: messages posted before a restart can be updated after
	// it. By default each start gets a fresh chat.
	KeepChat bool
	// Setup registers the modules under test; it runs at every (re)start,
	// as the wiring does.
	Setup func(w *World)
}

// World is an engine on a real store, restartable.
type World struct {
	T      testing.TB
	Path   string
	Clock  *Clock
	DB     *storage.DB
	Engine *actions.Engine
	Sched  *schedule.Scheduler
	Chat   *Chat

	// Opts is how the world was made; a test may change it before Restart.
	Opts Options
}

// New returns a started world; it is closed when the test ends.
func New(t testing.TB, opts Options) *World {
	t.Helper()
	if opts.Environments == nil {
		opts.Environments = []string{"staging", "production"}
	}
	if opts.Policy == nil {
		opts.Policy = People
	}
	if opts.Channels == nil {
		opts.Channels = actions.Channels{"default": {Platform: "C0DEFAULT"}}
		opts.ApprovalsChannel = "default"
	}
	w := &World{
		T: t, Path: filepath.Join(t.TempDir(), "infrabot.db"),
		Clock: NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)),
		Opts:  opts,
	}
	t.Cleanup(w.Close)
	w.Open()
	return w
}

// Open starts the engine on the world's store, as a process start does:
// modules are set up, interrupted runs recovered, the scheduler loaded (not
// started: the test fires due jobs with Tick).
func (w *World) Open() {
	w.T.Helper()
	db, err := storage.Open(w.Path)
	if err != nil {
		w.T.Fatal(err)
	}
	w.DB = db
	if w.Chat == nil || !w.Opts.KeepChat {
		w.Chat = &Chat{}
	}
	w.Sched = schedule.New(schedule.Options{LastRuns: db, Now: w.Clock.Now, MaxJitter: time.Nanosecond})
	w.Engine = actions.NewEngine(actions.Options{
		Policy: w.Opts.Policy(), Runs: db, Locks: db, Audit: db, Stores: db, Scheduler: w.Sched,
		Environments: w.Opts.Environments, Channels: w.Opts.Channels, ApprovalsChannel: w.Opts.ApprovalsChannel,
		Now: w.Clock.Now, Redactor: w.Opts.Redactor,
		StepOutputHead: w.Opts.StepOutputHead, StepOutputTail: w.Opts.StepOutputTail,
		RunEventLimit: w.Opts.RunEventLimit, Observer: w.Opts.Observer, Logger: w.Opts.Logger,
	})
	w.Engine.AddChat(Platform, w.Chat)
	if w.Opts.Setup != nil {
		w.Opts.Setup(w)
	}
	if _, err := w.Engine.Recover(context.Background()); err != nil {
		w.T.Fatal(err)
	}
	if err := w.Sched.Load(context.Background()); err != nil {
		w.T.Fatal(err)
	}
}

// Close stops the engine and the scheduler and closes the store.
func (w *World) Close() {
	if w.DB == nil {
		return
	}
	w.Sched.Close()
	w.Engine.Close()
	w.DB.Close()
	w.DB = nil
}

// Restart closes the world and opens it again on the same store.
func (w *World) Restart() {
	w.T.Helper()
	w.Close()
	w.Open()
}

// Tick fires the scheduled jobs that are due at the clock's time and waits
// for them; it returns how many ran.
func (w *World) Tick() int {
	n := w.Sched.RunDue(context.Background())
	w.Sched.Wait()
	return n
}

// As runs text as person, typed in the shared channel C1.
func (w *World) As(person, text string) actions.Reply {
	return w.In(actions.Origin{Platform: Platform, Channel: "C1"}, person, text)
}

// In runs text as person, typed at origin.
func (w *World) In(origin actions.Origin, person, text string) actions.Reply {
	w.T.Helper()
	return w.Engine.Execute(context.Background(), actions.Invocation{Person: person, Text: text, Origin: origin})
}

// Expect checks that the reply's text holds every want, and whether it
// was a refusal.
func (w *World) Expect(r actions.Reply, refused bool, want ...string) {
	w.T.Helper()
	text := r.Summary + "\n" + r.Text + "\n" + strings.Join(r.Lines, "\n") + "\n" + r.Footer
	if (r.Tone == actions.ToneDanger) != refused {
		w.T.Errorf("refused = %v, want %v; reply: %s", r.Tone == actions.ToneDanger, refused, text)
	}
	for _, s := range want {
		if !strings.Contains(text, s) {
			w.T.Errorf("reply lacks %q:\n%s", s, text)
		}
	}
}

// Run returns run id as stored, with its progress folded from its event log.
func (w *World) Run(id int64) *actions.Run {
	w.T.Helper()
	r, err := w.Engine.Run(context.Background(), id)
	if err != nil {
		w.T.Fatal(err)
	}
	return r
}

// One expects exactly one message sent to to (see Chat.Sent) whose
// summary holds s, and returns it.
func (w *World) One(to, s string) actions.Message {
	w.T.Helper()
	ms := w.Chat.Sent(to, s)
	if len(ms) != 1 {
		w.T.Fatalf("%d messages to %s hold %q, want 1; sent:\n%s", len(ms), to, s, w.Chat.Transcript())
	}
	return ms[0]
}

// None expects no message sent to to whose summary holds s.
func (w *World) None(to, s string) {
	w.T.Helper()
	if ms := w.Chat.Sent(to, s); len(ms) != 0 {
		w.T.Fatalf("%d messages to %s hold %q, want none; sent:\n%s", len(ms), to, s, w.Chat.Transcript())
	}
}

// Audited returns the audit records, one "person event detail" a line,
// oldest first.
func (w *World) Audited() string {
	w.T.Helper()
	entries, err := w.DB.Tail(context.Background(), 1000)
	if err != nil {
		w.T.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Person + " " + e.Event + " " + e.Detail + "\n")
	}
	return b.String()
}

// Progress is the counts a run's message summary ends with ("created 3
// of 200, 1 failed"), before the run's error if any; "" when it shows
// none.
func Progress(m actions.Message) string {
	_, after, ok := strings.Cut(m.Summary, " — ")
	if !ok {
		return ""
	}
	counts, _, _ := strings.Cut(after, ": ")
	return counts
}

// WaitFor polls cond until it holds, failing the test after 10 seconds:
// for conditions a real remote system (a simulator, a fake) reaches in its
// own time.
func WaitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
