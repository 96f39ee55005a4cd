package actions

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Invocation is one chat line from one person.
type Invocation struct {
	// Person is the name of the person in config, "" when the adapter
	// could not map the platform user to anyone.
	Person string
	Text   string
	Origin Origin
}

// Options configures an Engine.
type Options struct {
	Policy *Policy
	Runs   RunStore
	Locks  LockStore
	Audit  AuditLog
	// Environments are the names of the declared environments.
	Environments []string
	// Stores gives modules their buckets (see Engine.Module).
	Stores ModuleStores
	// Scheduler runs modules' jobs and the approval-expiry sweep; without
	// one, Handle.Schedule fails and expiry is swept only by
	// ExpireApprovals calls.
	Scheduler Scheduler
	// Channels are the named channels notifications go to.
	Channels Channels
	// ApprovalsChannel names the channel where approval requests typed in
	// a direct message or the console are posted.
	ApprovalsChannel string
	Now              func() time.Time
	Logger           *slog.Logger
	// RunEventLimit bounds the output lines and step details one run
	// keeps in its event log; the steps' starts and ends are always kept.
	// Default DefaultRunEventLimit.
	RunEventLimit int
	// StepOutputHead and StepOutputTail bound the output one step keeps
	// in the run's log (StepHandle.Output): its first StepOutputHead lines
	// as they come, and its last StepOutputTail lines when it ends, with
	// how many were cut between them. Defaults DefaultStepOutputHead and
	// DefaultStepOutputTail.
	StepOutputHead, StepOutputTail int
	// Redactor removes the config's secret values from everything the
	// engine writes: chat messages and replies, the log, run records and
	// the audit log. None by default.
	Redactor *Redactor
	// Observer is told what the engine does, for metrics; nothing by
	// default.
	Observer Observer
}

// DefaultRunEventLimit is how many output lines and step details a run
// keeps when Options do not say.
const DefaultRunEventLimit = 100_000

// Default bounds of one step's output in the run's log.
const (
	DefaultStepOutputHead = 100
	DefaultStepOutputTail = 400
)

// Engine turns commands into outcomes: parse, authorise, ask for approval
// where the policy says so, run, and audit every step.
type Engine struct {
	// settings are the policy, environments and channels in force; a
	// reload swaps them (Reconfigure).
	settings atomic.Pointer[Settings]
	catalog  *Catalog
	runs     RunStore
	locks    LockStore
	audit    AuditLog
	stores   ModuleStores
	sched    Scheduler
	now      func() time.Time
	log      *slog.Logger
	observe  Observer
	delivery Delivery
	limit    int // RunEventLimit
	head     int // StepOutputHead
	tail     int // StepOutputTail
	redact   *Redactor

	base    context.Context
	stopAll context.CancelFunc
	wg      sync.WaitGroup // runs in flight
	// announcing counts Recover's announcements being made.
	announcing sync.WaitGroup

	// late ends CloseChatWait after Close begins: the chat calls still
	// made then (a run's outcome) are cut short by it (chatContext).
	late      context.Context
	endLate   context.CancelFunc
	closeOnce sync.Once

	// filing counts, per environment, the requests between the check
	// that their environment exists and the run's record in the store:
	// a reload must not remove an environment under them (see
	// Reconfigure). Its own lock, since Reconfigure holds it while it
	// reads the store.
	filingMu sync.Mutex
	filing   map[string]int

	// startMu is read-held from the moment a run is recorded as running
	// until it is in active, and passed through by a cancel that found
	// the run running: a cancel never misses a run that is starting.
	startMu sync.RWMutex

	mu      sync.Mutex
	chats   map[string]Chat
	active  map[int64]*activeRun
	modules []string
	closing bool

	escalation EscalationPolicy // incidents' pager (on-call), see incident.go
	desk       IncidentDesk     // incidents' owner (health)
}

// activeRun is a run going in this infrabot: from the moment it is
// recorded as running (cancel is nil until launch starts it) until it
// has ended.
type activeRun struct {
	cancel      context.CancelFunc
	cancelledBy string
}

// track counts run id, just recorded as running, as going. startMu is
// read-held.
func (e *Engine) track(id int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.active[id] = &activeRun{}
}

// untrack forgets run id unless launch started it: a run that could not
// start, or whose start was cut short.
func (e *Engine) untrack(id int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a := e.active[id]; a != nil && a.cancel == nil {
		delete(e.active, id)
	}
}

// NewEngine returns an engine with the built-in actions registered.
func NewEngine(opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.RunEventLimit <= 0 {
		opts.RunEventLimit = DefaultRunEventLimit
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	if opts.StepOutputHead <= 0 {
		opts.StepOutputHead = DefaultStepOutputHead
	}
	if opts.StepOutputTail <= 0 {
		opts.StepOutputTail = DefaultStepOutputTail
	}
	base, stop := context.WithCancel(context.Background())
	late, endLate := context.WithCancel(context.Background())
	e := &Engine{
		catalog: NewCatalog(),
		runs:    opts.Runs, locks: opts.Locks, audit: opts.Audit,
		stores: opts.Stores, sched: opts.Scheduler,
		now: opts.Now, log: slog.New(opts.Redactor.Handler(opts.Logger.Handler())),
		observe: opts.Observer, limit: opts.RunEventLimit, redact: opts.Redactor,
		head: opts.StepOutputHead, tail: opts.StepOutputTail,
		base: base, stopAll: stop, late: late, endLate: endLate,
		chats: map[string]Chat{}, active: map[int64]*activeRun{},
		filing: map[string]int{},
	}
	e.settings.Store(Settings{
		Policy: opts.Policy, Environments: opts.Environments,
		Channels: opts.Channels, ApprovalsChannel: opts.ApprovalsChannel,
	}.normalised())
	e.registerBuiltins()
	return e
}

// SweepSchedule is how often pending approvals are checked for expiry.
const SweepSchedule = "@every 15s"

// ScheduleSweep registers the approval-expiry sweep with the engine's
// scheduler.
func (e *Engine) ScheduleSweep() error {
	if e.sched == nil {
		return fmt.Errorf("the engine has no scheduler")
	}
	return e.sched.Add(Job{Name: "kernel/expire-approvals", Spec: SweepSchedule, Run: e.ExpireApprovals})
}

// Register adds an action to the engine's catalogue.
func (e *Engine) Register(a *Action) { e.catalog.Add(a) }

// Permissions returns every name a role or an approval rule may give in
// this build: the catalogue's actions and flag permissions, sorted. The
// catalogue is the one list of commands; configuration is checked against
// it once every module has registered.
func (e *Engine) Permissions() []string {
	out := e.catalog.Permissions()
	slices.Sort(out)
	return slices.Compact(out)
}

// suggest returns " (did you mean `x`?)" for a mistyped command name.
func (e *Engine) suggest(name string) string {
	return didYouMean(name, e.catalog.Names())
}

// Policy returns the policy in force.
func (e *Engine) Policy() *Policy { return e.Settings().Policy }

// AddChat makes platform's chat the place for messages about requests that
// came from it.
func (e *Engine) AddChat(platform string, c Chat) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.chats[platform] = redactingChat{Chat: c, r: e.redact}
}

func (e *Engine) chat(platform string) Chat {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.chats[platform]
}

// Execute handles one chat line and returns the reply to show its author.
// Runs it starts go on in the background; see Wait and Close.
func (e *Engine) Execute(ctx context.Context, inv Invocation) Reply {
	s := e.Settings()
	person, _ := s.Policy.Person(inv.Person)
	who := inv.Person
	if person == nil {
		who = fmt.Sprintf("unknown %s user %s", inv.Origin.Platform, inv.Origin.UserID)
	}
	// Every request is in the audit log before anything is done about
	// it: one that cannot be recorded is not run.
	if err := e.recorded(ctx, AuditEntry{Person: who, Event: "request", Detail: inv.Text}); err != nil {
		name, _, _, _ := e.resolve(inv.Text)
		e.observe.Command(name, string(Unavailable))
		return refusal("infrabot could not write its audit log, so it did nothing; please try again, and tell an admin if this goes on")
	}
	action, reply, err := e.execute(ctx, s, person, inv)
	e.observe.Command(action, Outcome(err))
	if err != nil {
		kind := ErrorKind(err)
		if kind == Internal || kind == Unavailable {
			e.log.Error("command failed", "person", who, "command", inv.Text, "err", err)
		}
		e.record(ctx, AuditEntry{Person: who, Event: "refused", Detail: ErrorMessage(err)})
		// An error's message may quote a remote system that echoed a
		// secret; the reply goes out through the adapter's own outbox,
		// not through the engine's redacting chat.
		return refusal(e.redact.String(ErrorMessage(err)))
	}
	reply.Message = e.redact.Message(reply.Message)
	return reply
}

// refusal is the private reply to a command that did nothing.
func refusal(text string) Reply {
	return Reply{Message: Message{Summary: text, Text: text, Tone: ToneDanger}, Private: true}
}

// resolve parses text and finds the action it asks for, named as the
// Observer is told it: "" when text does not parse, "unknown" when no
// action has that name (with the error to answer).
func (e *Engine) resolve(text string) (string, Command, *Action, error) {
	cmd, err := Parse(text)
	if err != nil {
		return "", cmd, nil, err
	}
	act, ok := e.catalog.Lookup(cmd.Name)
	if !ok {
		return "unknown", cmd, nil, Errorf(NotFound, "there is no command `%s`%s; type `help` for the list", cmd.Name, e.suggest(cmd.Name))
	}
	return act.Name, cmd, act, nil
}

// execute runs one command under the settings s, and returns the name of
// its action for the Observer ("" when the line did not parse, "unknown"
// when no action has that name).
func (e *Engine) execute(ctx context.Context, s *Settings, person *Person, inv Invocation) (string, Reply, error) {
	name, cmd, act, err := e.resolve(inv.Text)
	if err != nil {
		return name, Reply{}, err
	}
	args, flags, err := Bind(act, cmd)
	if err != nil {
		return act.Name, Reply{}, err
	}
	req := &Request{Person: person, Action: act, Args: args, Flags: flags, Origin: inv.Origin, settings: s}
	if name, ok := act.envArg(); ok && args[name] != "" {
		req.Env = args[name]
		if !slices.Contains(s.Environments, req.Env) {
			return act.Name, Reply{}, Errorf(NotFound, "there is no environment %q; declared: %s", req.Env, listOr(s.Environments, "none"))
		}
	}
	if act.Name != "help" && act.Name != "whoami" {
		if err := s.Policy.Allowed(person, act.Name, req.Env); err != nil {
			return act.Name, Reply{}, err
		}
		if err := flagsAllowed(s.Policy, person, act, flags, req.Env); err != nil {
			return act.Name, Reply{}, err
		}
	}
	if e.stopping() && (act.IsRun() || act.Mutates) && act.Name != "cancel" {
		return act.Name, Reply{}, errStopping
	}
	if act.IsRun() {
		reply, err := e.request(ctx, req)
		return act.Name, reply, err
	}
	msg, err := act.Query(ctx, req)
	if err != nil {
		return act.Name, Reply{}, err
	}
	if act.Mutates {
		e.record(ctx, AuditEntry{Person: person.Name, Event: "done", Action: act.Name, Env: req.Env, Detail: req.Text()})
	}
	return act.Name, Reply{Message: msg}, nil
}

// flagsAllowed checks the permissions the given flags ask for, such as
// unlock-force for `unlock --force`.
func flagsAllowed(policy *Policy, person *Person, act *Action, flags map[string]string, env string) error {
	for _, f := range act.Flags {
		if _, given := flags[f.Name]; !given || f.Permission == "" {
			continue
		}
		if policy.Allowed(person, f.Permission, env) != nil {
			return Errorf(Permission, "`%s --%s` needs a role that allows %s, and none of %s's (%s) does",
				act.Name, f.Name, f.Permission, person.Name, listOr(policy.RoleNames(person), "none"))
		}
	}
	return nil
}

// record appends to the audit log. A failure to audit is logged loudly; it
// cannot be shown to the person, who did nothing wrong.
func (e *Engine) record(ctx context.Context, entry AuditEntry) { e.recorded(ctx, entry) }

// recorded is record, saying whether the entry is on disk.
func (e *Engine) recorded(ctx context.Context, entry AuditEntry) error {
	entry.Time = e.now()
	entry.Detail = e.redact.String(entry.Detail)
	if _, err := e.audit.Append(context.WithoutCancel(ctx), entry); err != nil {
		e.log.Error("audit append failed", "event", entry.Event, "err", err)
		return err
	}
	e.observe.Audited(entry.Event)
	return nil
}

// Wait blocks until every run started so far has ended, and Recover's
// announcements are made.
func (e *Engine) Wait() {
	e.wg.Wait()
	e.announcing.Wait()
}

// CloseChatWait bounds the chat calls made once Close has begun: the
// messages showing the outcomes of the runs it cuts off (or of runs that
// ended just before) are given this long, not the chat's own minute of
// retries, so that a chat that is down does not hold up a stop. Each
// outcome is stored and audited before its message is tried.
const CloseChatWait = 5 * time.Second

// Close stops the engine. It first refuses new work (a command that
// would start a run or decide a request is answered "infrabot is
// stopping"; queries still answer), then cancels the runs still going,
// which are recorded as interrupted, and waits for them to finish
// recording; their chat messages, and Recover's announcements not yet
// made, get CloseChatWait. (The expiry sweep is the scheduler's: its
// Close joins it.)
func (e *Engine) Close() {
	e.mu.Lock()
	e.closing = true
	e.mu.Unlock()
	e.closeOnce.Do(func() { time.AfterFunc(CloseChatWait, e.endLate) })
	e.stopAll()
	e.wg.Wait()
	e.announcing.Wait()
}

// chatContext is ctx's values without its cancellation, for a chat call
// that must be made even once ctx is done (a run's outcome), cut short
// CloseChatWait after Close begins.
func (e *Engine) chatContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(e.late, cancel)
	return ctx, func() { stop(); cancel() }
}

// Drain begins a stop without cutting anything short: like Close, it
// refuses new work from now on, then waits until the runs in flight have
// ended or ctx is done, and returns ctx's error in that case (never when
// no run is going, even with ctx done). Close afterwards cancels what is
// left.
func (e *Engine) Drain(ctx context.Context) error {
	e.mu.Lock()
	e.closing = true
	idle := len(e.active) == 0
	e.mu.Unlock()
	if idle {
		// No run is going, and none starts now: what is left to wait
		// for is at most the last writes of one that just ended.
		e.wg.Wait()
		return nil
	}
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errStopping refuses new work once Drain, Shutdown or Close has begun.
var errStopping = Errorf(Unavailable, "infrabot is shutting down: nothing new starts now; try again once it is back")

// Catalog returns the engine's actions: the one list of commands, which
// adapters that declare commands to their platform (Discord) read.
func (e *Engine) Catalog() *Catalog { return e.catalog }

// Environments returns the declared environment names, sorted; the slice
// is the caller's.
func (e *Engine) Environments() []string { return slices.Clone(e.Settings().Environments) }

// stopping reports whether Close has begun.
func (e *Engine) stopping() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closing
}

// post sends a message to the origin's chat; a failure is logged, since the
// run goes on regardless.
func (e *Engine) post(ctx context.Context, o Origin, m Message) *MessageRef {
	c := e.chat(o.Platform)
	if c == nil {
		return nil
	}
	ref, err := c.Post(ctx, o.Channel, e.localise(o.Platform, m))
	if err != nil {
		e.log.Warn("posting to chat failed", "platform", o.Platform, "channel", o.Channel, "err", err)
		return nil
	}
	return &ref
}

func (e *Engine) update(ctx context.Context, ref *MessageRef, m Message) {
	if ref == nil {
		return
	}
	c := e.chat(ref.Platform)
	if c == nil {
		return
	}
	if err := c.Update(ctx, *ref, e.localise(ref.Platform, m)); err != nil {
		e.log.Warn("updating a chat message failed", "platform", ref.Platform, "err", err)
	}
}

func understood(req *Request, rest string) string {
	return strings.TrimSpace(fmt.Sprintf("understood: `%s` %s", req.Text(), rest))
}
