package actions_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/storage"
)

// clock is a time source tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// chatLog is a Chat that remembers every message, by reference.
type chatLog struct {
	mu       sync.Mutex
	messages map[string]actions.Message
	posts    []actions.Message
	n        int
}

func (c *chatLog) Post(ctx context.Context, channel string, m actions.Message) (actions.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	id := fmt.Sprint(c.n)
	if c.messages == nil {
		c.messages = map[string]actions.Message{}
	}
	c.messages[id] = m
	c.posts = append(c.posts, m)
	return actions.MessageRef{Platform: "test", Channel: channel, ID: id}, nil
}

func (c *chatLog) Direct(ctx context.Context, userID string, m actions.Message) (actions.MessageRef, error) {
	return c.Post(ctx, "dm:"+userID, m)
}

func (c *chatLog) Update(ctx context.Context, ref actions.MessageRef, m actions.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.messages == nil {
		c.messages = map[string]actions.Message{}
	}
	c.messages[ref.ID] = m
	return nil
}

// find returns the latest state of the first message whose summary holds s.
func (c *chatLog) find(s string) (actions.Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 1; i <= c.n; i++ {
		if m := c.messages[fmt.Sprint(i)]; strings.Contains(m.Summary, s) {
			return m, true
		}
	}
	return actions.Message{}, false
}

// world is an engine on a real bbolt store, with the people and policy of
// PRODUCT.md and two test-only actions: wipe (destructive) and deploy-ish
// "touch" (mutating, waits on a gate).
type world struct {
	t      testing.TB
	path   string
	db     *storage.DB
	engine *actions.Engine
	clock  *clock
	chat   *chatLog

	// observer and logger, when set before open, are given to the engine.
	observer actions.Observer
	logger   *slog.Logger

	planLines  atomic.Value // []string: what wipe's plan says
	wipes      atomic.Int32 // how many times wipe executed
	gate       chan struct{}
	limit      int // the engine's RunEventLimit; 0 for the default
	head, tail int // the engine's StepOutputHead and StepOutputTail; 0 for the defaults
}

func policy() *actions.Policy {
	return actions.NewPolicy(
		[]*actions.Person{
			{Name: "alice", Roles: []string{"admin"}, IDs: map[string]string{"test": "UALICE"}},
			{Name: "bob", Roles: []string{"operator"}, IDs: map[string]string{"test": "UBOB"}},
			{Name: "carol", Roles: []string{"viewer"}},
			{Name: "dave", Roles: []string{"admin"}},
			{Name: "erin"},
			{Name: "frank", Roles: []string{"steward"}},
		},
		[]*actions.Role{
			{Name: "viewer", Allow: []string{"help", "whoami", "status", "plan", "runs", "run"}},
			{Name: "operator", Inherit: []string{"viewer"}, Allow: []string{"provision", "teardown", "lock", "unlock", "cancel", "approve", "deny", "deploy"}, Environments: []string{"staging"}},
			{Name: "admin", Inherit: []string{"operator"}, Allow: []string{"*"}, Environments: []string{"*"}},
			{Name: "steward", Allow: []string{"lock", "unlock", "unlock-force"}, Environments: []string{"staging"}},
		},
		[]actions.ApprovalRule{
			{Actions: []string{"teardown"}, Environments: []string{"*"}, Approvers: []string{"operator", "admin"}, Expires: 15 * time.Minute},
			{Actions: []string{"deploy"}, Environments: []string{"production"}, Approvers: []string{"admin"}},
		},
	)
}

func newWorld(t testing.TB) *world { return newWorldWith(t, func(*world) {}) }

// newWorldWith is newWorld with the world changed by set before the engine
// is made.
func newWorldWith(t testing.TB, set func(*world)) *world {
	t.Helper()
	w := &world{t: t, path: filepath.Join(t.TempDir(), "infrabot.db"), clock: &clock{now: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}}
	w.planLines.Store([]string{"- wipe everything"})
	w.gate = make(chan struct{})
	set(w)
	w.open()
	return w
}

// open (re)starts the engine on the world's store, as a process start would.
func (w *world) open() {
	w.t.Helper()
	db, err := storage.Open(w.path)
	if err != nil {
		w.t.Fatal(err)
	}
	w.db = db
	w.chat = &chatLog{}
	w.engine = actions.NewEngine(actions.Options{
		Policy: policy(), Runs: db, Locks: db, Audit: db,
		Environments:  []string{"staging", "production"},
		Now:           w.clock.Now,
		RunEventLimit: w.limit,
		Observer:      w.observer, Logger: w.logger,
		StepOutputHead: w.head, StepOutputTail: w.tail,
		Redactor: actions.NewRedactor("hunter2-secret"),
	})
	w.engine.AddChat("test", w.chat)
	w.engine.Register(&actions.Action{
		Name: "teardown", Summary: "test-only destructive action",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true, Destructive: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			lines := w.planLines.Load().([]string)
			return actions.Plan{Summary: fmt.Sprintf("%d changes", len(lines)), Lines: lines, Deletes: true}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			w.wipes.Add(1)
			p.Step(ctx, "wipe").Done(ctx, "wiped")
			return nil
		},
	})
	w.engine.Register(&actions.Action{
		Name: "deploy", Summary: "test-only mutating action that waits on a gate",
		Args: []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}, Mutates: true,
		Plan: func(ctx context.Context, req *actions.Request) (actions.Plan, error) {
			return actions.Plan{Summary: "touch"}, nil
		},
		Execute: func(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
			if w.logger != nil {
				w.logger.InfoContext(ctx, "touching", "target", "all")
			}
			step := p.Step(ctx, "touch")
			select {
			case <-w.gate:
				step.Done(ctx, "done")
				return nil
			case <-ctx.Done():
				step.Fail(ctx, ctx.Err())
				return ctx.Err()
			}
		},
	})
	w.t.Cleanup(w.close)
}

func (w *world) close() {
	if w.db == nil {
		return
	}
	w.engine.Close()
	w.db.Close()
	w.db = nil
}

// restart closes and reopens the store and engine.
func (w *world) restart() {
	w.close()
	w.open()
	if _, err := w.engine.Recover(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// as runs text as person and returns the reply.
func (w *world) as(person, text string) actions.Reply {
	w.t.Helper()
	return w.engine.Execute(context.Background(), actions.Invocation{
		Person: person, Text: text, Origin: actions.Origin{Platform: "test", Channel: "C1"},
	})
}

// expect checks that the reply's text holds every want, and whether it was
// a refusal.
func (w *world) expect(r actions.Reply, refused bool, want ...string) {
	w.t.Helper()
	text := r.Summary + "\n" + r.Text + "\n" + strings.Join(r.Lines, "\n") + "\n" + r.Footer
	if (r.Tone == actions.ToneDanger) != refused {
		w.t.Errorf("refused = %v, want %v; reply: %s", r.Tone == actions.ToneDanger, refused, text)
	}
	for _, s := range want {
		if !strings.Contains(text, s) {
			w.t.Errorf("reply lacks %q:\n%s", s, text)
		}
	}
}

func (w *world) run(id int64) *actions.Run {
	w.t.Helper()
	r, err := w.engine.Run(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// copyStore copies the world's bbolt file as it is now, as a crash would
// leave it, and returns the copy's path.
func copyStore(t testing.TB, w *world) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "crashed.db")
	if err := w.db.Backup(dst); err != nil {
		t.Fatal(err)
	}
	return dst
}
