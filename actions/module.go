package actions

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"time"
)

// A module is one capability of infrabot — environments, deploys, health
// checks, on-call, CI jobs, digests — built beside the kernel rather than
// as methods on the Engine. A module is a package of its own that is
// handed a *Handle by the wiring and uses only that: it registers its
// commands in the catalogue, keeps its state in buckets of its own,
// audits, notifies, schedules jobs and reads the clock through it.
//
// A module never imports another module: where two capabilities meet
// (incidents and on-call), the kernel offers the seam.

// Handle is a module's narrow view of the kernel. It is safe for
// concurrent use.
type Handle struct {
	name  string
	e     *Engine
	store Store
	log   *slog.Logger
}

var moduleName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// Module returns the handle for the module called name, with the storage
// buckets it declares created in the store (an older store gains them).
// Names are lower-case words; each module is made once.
func (e *Engine) Module(name string, buckets ...string) (*Handle, error) {
	if !moduleName.MatchString(name) {
		return nil, fmt.Errorf("module name %q: use lower-case letters, digits and dashes", name)
	}
	e.mu.Lock()
	if slices.Contains(e.modules, name) {
		e.mu.Unlock()
		return nil, fmt.Errorf("module %s is made twice", name)
	}
	e.modules = append(e.modules, name)
	e.mu.Unlock()
	h := &Handle{name: name, e: e, log: e.log.With("module", name)}
	if len(buckets) > 0 {
		if e.stores == nil {
			return nil, fmt.Errorf("module %s needs storage, and the engine has none", name)
		}
		s, err := e.stores.ModuleStore(name, buckets)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", name, err)
		}
		h.store = s
	}
	return h, nil
}

// Name returns the module's name.
func (h *Handle) Name() string { return h.name }

// Register adds a command to the catalogue. The command is the module's:
// the same policy, approval and audit apply to it as to any other.
func (h *Handle) Register(a *Action) {
	a.Module = h.name
	h.e.catalog.Add(a)
}

// Now reads the kernel's clock; modules never call time.Now, so that tests
// can move time.
func (h *Handle) Now() time.Time { return h.e.now() }

// Log returns the module's logger.
func (h *Handle) Log() *slog.Logger { return h.log }

// Redactor returns the kernel's redactor, which knows every secret value
// of the configuration: a module that keeps or shows text from outside
// (remote output) passes it through this one, so there is one list of
// secrets. Progress, chat, the log and the audit already pass it.
func (h *Handle) Redactor() *Redactor { return h.e.redact }

// Store returns the module's own buckets, those it declared when it was
// made; nil when it declared none.
func (h *Handle) Store() Store { return h.store }

// Audit appends an entry to the audit log, stamped with the kernel's
// clock. A failure to audit is logged loudly.
func (h *Handle) Audit(ctx context.Context, entry AuditEntry) { h.e.record(ctx, entry) }

// Notify sends m to every target, see Engine.Notify.
func (h *Handle) Notify(ctx context.Context, to []Target, m Message) ([]MessageRef, error) {
	return h.e.Notify(ctx, to, m)
}

// Update shows m in place of every message refs points to, see
// Engine.UpdateAll.
func (h *Handle) Update(ctx context.Context, refs []MessageRef, m Message) {
	h.e.UpdateAll(ctx, refs, m)
}

// Schedule runs fn on the schedule spec (a cron expression, optionally with
// seconds, or @every/@daily…) in the time zone tz ("" for UTC). The job's
// name is unique within the module; its last run is remembered across
// restarts (see Scheduler).
func (h *Handle) Schedule(name, spec, tz string, fn func(ctx context.Context) error) error {
	if h.e.sched == nil {
		return fmt.Errorf("module %s: job %s: this infrabot has no scheduler", h.name, name)
	}
	return h.e.sched.Add(Job{Name: h.name + "/" + name, Spec: spec, TimeZone: tz, Run: fn})
}

// Reschedule puts fn on the schedule spec in place of the module's job
// called name, or schedules it when there is none (see
// Scheduler.Replace): a module reconfigured by a reload calls it for each
// job it keeps or gains. A job whose schedule stays keeps its next slot.
func (h *Handle) Reschedule(name, spec, tz string, fn func(ctx context.Context) error) error {
	if h.e.sched == nil {
		return fmt.Errorf("module %s: job %s: this infrabot has no scheduler", h.name, name)
	}
	return h.e.sched.Replace(Job{Name: h.name + "/" + name, Spec: spec, TimeZone: tz, Run: fn})
}

// Unschedule stops the module's job called name; its last run stays
// remembered, so scheduling it again later does not repeat a slot.
func (h *Handle) Unschedule(name string) {
	if h.e.sched != nil {
		h.e.sched.Remove(h.name + "/" + name)
	}
}

// Person returns the person called name in the config.
func (h *Handle) Person(name string) (*Person, bool) { return h.e.Policy().Person(name) }

// Environments returns the declared environment names, sorted.
func (h *Handle) Environments() []string { return h.e.Environments() }

// EnvironmentActivity is what is going on in an environment: its lock, the
// run that holds it, and the requests waiting for approval.
type EnvironmentActivity struct {
	Lock    *Lock
	Running []*Run
	Pending []*Run
}

// Activity returns what is going on in env.
func (h *Handle) Activity(ctx context.Context, env string) (EnvironmentActivity, error) {
	var act EnvironmentActivity
	locks, err := h.e.locks.Locks(ctx)
	if err != nil {
		return act, err
	}
	for i := range locks {
		if locks[i].Env == env {
			act.Lock = &locks[i]
		}
	}
	runs, err := h.e.runs.Runs(ctx, RunFilter{Env: env, States: []RunState{Running, AwaitingApproval}})
	if err != nil {
		return act, err
	}
	for _, r := range runs {
		if r.State == Running {
			act.Running = append(act.Running, r)
		} else {
			act.Pending = append(act.Pending, r)
		}
	}
	return act, nil
}

// Runs returns runs as the filter selects them, newest first: a
// read-only view for modules that report on what ran (digests).
func (h *Handle) Runs(ctx context.Context, f RunFilter) ([]*Run, error) {
	return h.e.runs.Runs(ctx, f)
}

// Store is a module's own part of infrabot's store: the buckets it
// declared, in transactions. A write transaction is atomic and durable
// when Update returns nil; an error from fn rolls it back. Concurrent
// writes may share one transaction (group commit), so fn may be run more
// than once: it must derive what it writes from the transaction alone,
// and must not write to the store itself.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
}

// Tx is a transaction on a module's store.
type Tx interface {
	// Bucket returns the module's bucket called name; nil when the module
	// did not declare it.
	Bucket(name string) Bucket
}

// Bucket is a sorted key-value map. Values returned by Get and ForEach are
// valid only during the transaction; copy what must outlive it.
type Bucket interface {
	Get(key []byte) []byte
	Put(key, value []byte) error // write transactions only
	Delete(key []byte) error     // write transactions only
	ForEach(fn func(key, value []byte) error) error
	NextSequence() (uint64, error) // write transactions only
}

// ModuleStores makes modules' stores; storage implements it.
type ModuleStores interface {
	// ModuleStore returns the store of module name, creating the buckets
	// it declares.
	ModuleStore(name string, buckets []string) (Store, error)
}
