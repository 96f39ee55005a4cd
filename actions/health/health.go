// Package health is the health-checks module: checks declared in config
// (HTTP, TCP, a command over SSH, OpenStack server state, heartbeats
// that jobs ping) run on schedules, and the incidents they open — one per
// outage — with the commands to see and act on them (checks, check,
// incidents, incident, ack, snooze, resolve).
//
// Checks run concurrently under a global limit, each with its timeout and
// a stable jitter; a slow or hanging target delays nobody but itself (a
// slot that comes while the check still runs is skipped). One kernel job
// (health/probe, every second) dispatches what is due, so the kernel's
// scheduler, its clock and its elector drive everything.
//
// Each check's last result, a bounded history, its consecutive failures
// and its hourly uptime are persisted, as are incidents, so a restart
// neither resets counts nor opens a second incident for the same outage.
//
// Who gets paged is not this module's business: an incident notifies its
// check's notification targets through the kernel (h.Notify); on-call
// hooks in there, as a target the kernel resolves, not by importing this
// package.
package health

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Name is the module's name, for Engine.Module.
const Name = "health"

// Buckets are the storage buckets the module owns, for Engine.Module.
var Buckets = []string{bucketChecks, bucketIncidents}

// Kind is what a check probes.
type Kind string

// Kinds of checks.
const (
	HTTP      Kind = "http"      // GET a URL; status, body, latency, certificate
	TCP       Kind = "tcp"       // open a TCP connection
	SSH       Kind = "ssh"       // run a command on an environment's hosts; exit 0 passes
	OpenStack Kind = "openstack" // every declared server of an environment ACTIVE
	Heartbeat Kind = "heartbeat" // a job must ping within period + grace
)

// Check is one declared check.
type Check struct {
	Name string
	Kind Kind

	URL     string // http
	Expect  Expect // http
	Address string // tcp: host:port

	Environment string // openstack, ssh
	On, Run     string // ssh: the host and the command

	// Period and Grace: a heartbeat fails when no ping came within
	// Period+Grace, or a start ping was not followed by a success within
	// Grace.
	Period, Grace time.Duration
	// Token is the heartbeat's secret: the job pings /ping/<token>.
	Token string

	Schedule string // a cron spec; DefaultSchedule when empty
	TimeZone string
	Timeout  time.Duration

	FailuresBeforeIncident int
	SuccessesBeforeResolve int
	// Notify are the targets an incident of this check is posted to;
	// channel:default when empty.
	Notify []actions.Target
	// Escalation names the escalation policy its incidents follow
	// (on-call's escalations): its first level's responders are
	// mentioned in the incident's message, and paged. "" pages nobody.
	Escalation string
}

// Expect is what an HTTP check requires of the answer. Zero fields are
// not checked, but for Status, which is 2xx by default.
type Expect struct {
	Status       int
	BodyContains string
	MaxLatency   time.Duration
	// CertValidFor fails the check when the server's certificate expires
	// sooner than this.
	CertValidFor time.Duration
}

// Defaults for what a check does not say.
const (
	DefaultSchedule = "@every 1m"
	DefaultTimeout  = 10 * time.Second
	DefaultFailures = 2
	DefaultSuccess  = 2
	// DefaultLimit is how many checks run at once, in all.
	DefaultLimit = 256
	// HistoryLength is how many results are kept per check.
	HistoryLength = 30
)

// Schedule is a parsed cron spec: the next time after t.
type Schedule interface {
	Next(t time.Time) time.Time
}

// Fleet reports an environment's servers for openstack checks: the names
// of those declared, and those the cloud has. The wiring implements it
// with the environments' clouds.
type Fleet interface {
	Servers(ctx context.Context, env string) (declared []string, servers []actions.Server, err error)
}

// Options are what the module needs from the wiring.
type Options struct {
	// Parse reads a check's schedule (the kernel scheduler's cron
	// dialect). Required.
	Parse func(spec, tz string) (Schedule, error)
	// Fleet answers openstack checks; without it they are refused.
	Fleet Fleet
	// Shell runs ssh checks' commands; without it they are refused.
	Shell Shell
	// Limit is how many checks run at once; DefaultLimit when 0.
	Limit int
	// Lookahead dispatches checks due within this long of a tick, each
	// waiting (in real time) for its own due time, so that starts are
	// not rounded to the tick. The wiring sets two seconds (twice the
	// tick, so that a tick that comes late starts nothing late); tests
	// leave it 0 and move the clock instead.
	Lookahead time.Duration
	// RootCAs, when set, are the roots HTTP checks trust (tests).
	RootCAs *x509.CertPool
	// OnResult, when set, sees every scheduled run's result once it is
	// recorded (benchmarks, metrics).
	OnResult func(check string, r Result)
}

// Module is the health-checks module.
type Module struct {
	h      *actions.Handle
	opts   Options
	client *http.Client
	sem    chan struct{}
	wg     sync.WaitGroup // probes in flight

	roster      atomic.Pointer[roster] // the checks in force
	reconfigure sync.Mutex             // one Reconfigure at a time

	jobs    chan probeJob // scheduled runs, to idle probe workers
	workers atomic.Int32  // probe workers alive
	left    chan struct{} // a probe worker ended

	commit committer
	stats  *meter // counts for metrics (Stats)

	// loaded is set once the store was read at first use (not when made)
	// and the checks seen for the first time stored; until then every
	// use tries again.
	loaded atomic.Bool
	// isLoaded is set, under reconfigure, once the store was read: checks
	// a reload adds later read their own state.
	isLoaded bool
	resumed  atomic.Bool // escalations not told before a restart are told once
	born     time.Time   // when the module was made

	noteMu sync.Mutex // one note on a resolved incident at a time

	mu   sync.Mutex // guards open, closing and nextID
	open map[int64]*Incident
	// closing are the incidents resolved but not yet stored as such, or
	// whose resolution the escalation policy is still being told: a note
	// written meanwhile goes into them, not into a copy read from the
	// store, which the resolution's writes would overwrite or be
	// overwritten by.
	closing map[int64]*Incident
	nextID  int64
	// untold are the resolved incidents read from the store whose
	// resolution the escalation policy was not told (resumeEscalations).
	untold []*Incident
}

// roster is the checks of one config; a reload puts a new one in place
// whole. A check that stays keeps its *checkState, so what is known of it
// (results, failure counts, its next slot) carries on.
type roster struct {
	checks map[string]*checkState
	order  []string                 // check names, sorted
	tokens map[[32]byte]*checkState // heartbeat token hashes
}

// r is the roster in force.
func (x *Module) r() *roster { return x.roster.Load() }

// definition is a check as declared, with its schedule: a reload that
// changes a check puts a new one in place.
type definition struct {
	check  Check
	sched  Schedule
	jitter time.Duration
}

// checkState is a check, its schedule and what is known of it.
type checkState struct {
	def atomic.Pointer[definition]

	mu      sync.Mutex
	next    time.Time // when it is due next, jitter included
	running bool
	rec     record
}

// d is the check's definition in force.
func (cs *checkState) d() *definition { return cs.def.Load() }

// New makes the module on h with checks, loading their state from the
// store, registering the commands and the probe job. Checks the module
// cannot run (an ssh check without a Shell, an openstack check without a
// Fleet) are an error of kind Invalid.
func New(h *actions.Handle, checks []Check, opts Options) (*Module, error) {
	if opts.Parse == nil {
		return nil, fmt.Errorf("health: Options.Parse is required")
	}
	if opts.Limit <= 0 {
		opts.Limit = DefaultLimit
	}
	x := &Module{
		h: h, opts: opts, sem: make(chan struct{}, opts.Limit),
		jobs: make(chan probeJob), left: make(chan struct{}, 1),
		open: map[int64]*Incident{}, closing: map[int64]*Incident{}, born: h.Now(),
	}
	x.commit.x = x
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = opts.Limit
	tr.MaxIdleConnsPerHost = opts.Limit
	tr.IdleConnTimeout = 5 * time.Minute
	// Certificates are judged by infrabot's clock, like everything else.
	tr.TLSClientConfig = &tls.Config{RootCAs: opts.RootCAs, Time: h.Now}
	// A check judges its URL's own answer: a redirect is that answer, not
	// followed (the page it leads to has its status, body and certificate,
	// not the URL's).
	x.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	x.stats = newMeter()
	if err := x.Reconfigure(context.Background(), checks); err != nil {
		return nil, err
	}
	x.register()
	return x, nil
}

// Reconfigure puts checks in place of the checks in force (a config
// reload). A check that stays under its name keeps its results, failure
// and success counts, snooze and open incident, and its next slot when
// its schedule stays (one whose schedule changed runs at the new
// schedule's next slot); its new settings apply from its next run. A
// check added starts at once (plus its jitter), taking up what the store
// knows of a check of that name; one removed stops running, its open
// incident left open, as at a restart, to be resolved by hand. A check
// the module cannot run is an error of kind Invalid and changes nothing.
func (x *Module) Reconfigure(ctx context.Context, checks []Check) error {
	x.reconfigure.Lock()
	defer x.reconfigure.Unlock()
	defs := map[string]*definition{}
	var order []string
	for _, c := range checks {
		d, err := x.prepare(c)
		if err != nil {
			return err
		}
		if _, dup := defs[c.Name]; dup {
			return actions.Errorf(actions.Invalid, "check %s is declared twice", c.Name)
		}
		defs[c.Name] = d
		order = append(order, c.Name)
	}
	sort.Strings(order)
	if len(order) > 0 {
		if err := x.h.Reschedule("probe", "@every 1s", "", x.tick); err != nil {
			return err
		}
	}
	prev := x.r()
	next := &roster{checks: map[string]*checkState{}, order: order, tokens: map[[32]byte]*checkState{}}
	var added []*checkState
	for _, name := range order {
		d := defs[name]
		cs, kept := (*checkState)(nil), false
		if prev != nil {
			cs, kept = prev.checks[name]
		}
		if !kept {
			cs = &checkState{}
			cs.def.Store(d)
			added = append(added, cs)
		} else if old := cs.d(); !reflect.DeepEqual(old.check, d.check) {
			cs.def.Store(d)
			if old.check.Schedule != d.check.Schedule || old.check.TimeZone != d.check.TimeZone {
				cs.mu.Lock()
				if !cs.next.IsZero() {
					cs.next = d.sched.Next(x.h.Now()).Add(d.jitter)
				}
				cs.mu.Unlock()
			}
		}
		next.checks[name] = cs
		if d.check.Kind == Heartbeat {
			next.tokens[sha256.Sum256([]byte(d.check.Token))] = cs
		}
	}
	if x.isLoaded && len(added) > 0 {
		// The module read the store already: the checks added read theirs.
		if err := x.loadChecks(ctx, added, x.h.Now()); err != nil {
			return err
		}
		if err := x.saveFresh(ctx, added); err != nil {
			return err
		}
	}
	x.stats.declare(next.checks)
	x.roster.Store(next)
	return nil
}

// openIncidents returns a copy of the open incidents, oldest first.
func (x *Module) openIncidents() []*Incident {
	x.mu.Lock()
	open := make([]*Incident, 0, len(x.open))
	for _, inc := range x.open {
		open = append(open, inc.clone())
	}
	x.mu.Unlock()
	sort.Slice(open, func(i, j int) bool { return open[i].ID < open[j].ID })
	return open
}

// ready reads the checks' state and open incidents from the store the
// first time anything needs them (the first tick, a command, a ping):
// making the module touches no store, so that a build made only to list
// its commands can make it. Checks seen for the first time are stored at
// once, so that a heartbeat's first deadline counts from then, also
// across a restart. The read is not the caller's to cancel (a ping whose
// client went away would stop it) but has a time of its own; one that
// fails is tried again at the next use, not kept.
func (x *Module) ready(ctx context.Context) error {
	if !x.loaded.Load() {
		if err := x.loadFirst(context.WithoutCancel(ctx)); err != nil {
			return err
		}
	}
	if x.resumed.CompareAndSwap(false, true) {
		// Done once: not the caller's to cancel either.
		x.resumeEscalations(context.WithoutCancel(ctx))
	}
	return nil
}

// loadTimeout bounds the first read of the store and the first save of
// new checks.
const loadTimeout = 30 * time.Second

// loadFirst is ready's read of the store, unless another caller did it
// meanwhile.
func (x *Module) loadFirst(ctx context.Context) error {
	// Under reconfigure: a reload either comes before, and its checks are
	// read here, or after, and reads the ones it adds itself.
	x.reconfigure.Lock()
	defer x.reconfigure.Unlock()
	if x.loaded.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	if !x.isLoaded {
		if err := x.load(ctx); err != nil {
			return err
		}
		x.isLoaded = true
	}
	if err := x.saveFresh(ctx, slices.Collect(maps.Values(x.r().checks))); err != nil {
		return err
	}
	x.loaded.Store(true)
	return nil
}

// saveFresh stores the checks of checks never stored before, so that a
// heartbeat's first deadline counts from now, also across a restart.
func (x *Module) saveFresh(ctx context.Context, checks []*checkState) error {
	var fresh []*checkState
	for _, cs := range checks {
		if cs.rec.Last == nil {
			fresh = append(fresh, cs)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	return x.commit.save(ctx, fresh, nil)
}

// resumeEscalations tells the escalation policy of incidents posted
// before a restart that it was not told of (a crash between the two),
// then of the acknowledgements and resolutions it was not told of.
func (x *Module) resumeEscalations(ctx context.Context) {
	x.mu.Lock()
	var ids []int64
	untold := x.untold
	x.untold = nil
	for id, inc := range x.open {
		if inc.Escalation != "" && !inc.Escalated && len(inc.Refs) > 0 {
			ids = append(ids, id)
		}
		if inc.Untold != "" {
			untold = append(untold, inc)
		}
	}
	x.mu.Unlock()
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if err := x.escalate(ctx, id); err != nil {
			x.h.Log().Error("telling the escalation policy of an incident failed", "incident", id, "err", err)
		}
	}
	sort.Slice(untold, func(i, j int) bool { return untold[i].ID < untold[j].ID })
	for _, inc := range untold {
		x.mu.Lock()
		cp := inc.clone()
		x.mu.Unlock()
		if cp.Untold == "" {
			continue // told meanwhile
		}
		if err := x.tell(ctx, inc, cp); err != nil {
			x.h.Log().Error("storing that the escalation policy was told failed", "incident", inc.ID, "err", err)
		}
		if cp.State == Resolved {
			x.closed(inc.ID)
		}
	}
}

// prepare applies defaults to c and parses its schedule.
func (x *Module) prepare(c Check) (*definition, error) {
	switch c.Kind {
	case HTTP, TCP, Heartbeat:
	case OpenStack:
		if x.opts.Fleet == nil {
			return nil, actions.Errorf(actions.Invalid, "check %s: openstack checks need the clouds, and this infrabot has none", c.Name)
		}
	case SSH:
		if x.opts.Shell == nil {
			return nil, actions.Errorf(actions.Invalid, "check %s: ssh checks need the environments' SSH settings, and this infrabot has none", c.Name)
		}
		if c.Environment == "" || c.Run == "" {
			return nil, actions.Errorf(actions.Invalid, "check %s: an ssh check needs an environment and a command to run", c.Name)
		}
	default:
		return nil, actions.Errorf(actions.Invalid, "check %s: unknown type %q", c.Name, c.Kind)
	}
	if c.Schedule == "" {
		c.Schedule = DefaultSchedule
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.FailuresBeforeIncident <= 0 {
		c.FailuresBeforeIncident = DefaultFailures
		if c.Kind == Heartbeat {
			c.FailuresBeforeIncident = 1 // a missed deadline already waited period + grace
		}
	}
	if c.SuccessesBeforeResolve <= 0 {
		c.SuccessesBeforeResolve = DefaultSuccess
		if c.Kind == Heartbeat {
			c.SuccessesBeforeResolve = 1 // one good ping
		}
	}
	if len(c.Notify) == 0 {
		c.Notify = []actions.Target{{Kind: actions.ToChannel, Name: "default"}}
	}
	if c.Kind == Heartbeat && (c.Period <= 0 || c.Token == "") {
		return nil, actions.Errorf(actions.Invalid, "check %s: a heartbeat needs a period and a token", c.Name)
	}
	s, err := x.opts.Parse(c.Schedule, c.TimeZone)
	if err != nil {
		return nil, actions.Errorf(actions.Invalid, "check %s: %v", c.Name, err)
	}
	// A check's jitter is at most half its interval and at most 30 s, so
	// that checks on the same schedule spread over the interval instead of
	// starting in the same second (5,000 checks every 10 s become 1,000 a
	// second, not a burst).
	return &definition{check: c, sched: s, jitter: actions.Jitter(c.Name, s, 30*time.Second, 2)}, nil
}

// Heartbeats returns how many heartbeat checks there are: they need the
// public HTTP server for their pings.
func (x *Module) Heartbeats() int { return len(x.r().tokens) }

// Wait blocks until no check is running and every result is stored.
func (x *Module) Wait() {
	x.wg.Wait()
	x.commit.wait()
}

// Close stops nothing of its own (the scheduler owns the probe job) but
// waits for probes in flight and stores what they found; the wiring calls
// it after the scheduler is closed and before the store is.
func (x *Module) Close() {
	x.Wait()
	x.client.CloseIdleConnections()
}
