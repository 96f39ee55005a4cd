// Package schedule is infrabot's scheduler: it runs the kernel's and the
// modules' jobs on cron schedules (github.com/robfig/cron/v3 reads the
// specs), remembers each job's last run in the store so that a restart
// neither repeats nor forgets a job, and asks an actions.Elector before
// each firing, so that only one of several replicas fires.
//
// The clock is injected: tests set Now, call Load and RunDue, and never
// sleep.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/infrabot/infrabot/actions"
)

// LastRuns remembers when each job last fired; storage implements it.
type LastRuns interface {
	LastRun(ctx context.Context, job string) (time.Time, bool, error)
	SetLastRun(ctx context.Context, job string, t time.Time) error
}

// Options configures a Scheduler.
type Options struct {
	// LastRuns persists last runs. Required.
	LastRuns LastRuns
	// Elector decides whether this process fires a slot; actions.Alone by
	// default.
	Elector actions.Elector
	// MaxJitter bounds the delay added to each job's slots, derived from
	// its name so that it is stable: jobs on the same schedule do not fire
	// in the same millisecond. It is also at most a tenth of the job's
	// interval. Default 2s.
	MaxJitter time.Duration
	Now       func() time.Time
	// Sleep waits d or until ctx ends; the background loop uses it.
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

// Scheduler runs jobs on their schedules. It implements actions.Scheduler.
type Scheduler struct {
	opts Options
	log  *slog.Logger

	ctx    context.Context // jobs' context, ended by Close
	cancel context.CancelFunc
	jobs   sync.WaitGroup // running jobs
	loop   sync.WaitGroup // the background loop
	kick   chan struct{}

	mu      sync.Mutex
	entries map[string]*entry
	loaded  bool
	started bool
	closed  bool
}

type entry struct {
	job     actions.Job
	sched   cron.Schedule
	jitter  time.Duration
	next    time.Time // the next slot, before jitter
	running bool
}

var _ actions.Scheduler = (*Scheduler)(nil)

// New returns a scheduler; Load reads the jobs' last runs and Start fires
// them in the background.
func New(opts Options) *Scheduler {
	if opts.Elector == nil {
		opts.Elector = actions.Alone{}
	}
	if opts.MaxJitter <= 0 {
		opts.MaxJitter = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = actions.Sleep
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		opts: opts, log: opts.Logger.With("component", "scheduler"),
		ctx: ctx, cancel: cancel, kick: make(chan struct{}, 1),
		entries: map[string]*entry{},
	}
}

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse reads a schedule: a cron expression of five fields (or six, with
// seconds first) or a descriptor (@every 1m, @hourly, @daily, @weekly…),
// in the IANA time zone tz ("" for UTC). Its errors are meant for people.
func Parse(spec, tz string) (cron.Schedule, error) {
	if tz == "" {
		tz = "UTC"
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return nil, fmt.Errorf("%q is not a time zone (write it like Europe/Prague or UTC)", tz)
	}
	s, err := parser.Parse("CRON_TZ=" + tz + " " + spec)
	if err != nil {
		return nil, fmt.Errorf("%q is not a schedule (%v); write a cron expression like \"0 9 * * 1-5\" or @every 5m", spec, err)
	}
	if spec, ok := s.(*cron.SpecSchedule); ok && spec.Hour&everyHour != everyHour {
		wall := *spec
		wall.Location = time.UTC
		return wallClock{&wall, spec.Location}, nil
	}
	return s, nil
}

// everyHour is a cron hour field that names all 24 hours.
const everyHour = 1<<24 - 1

// wallClock is a schedule that names its hours (30 2 * * *, @daily,
// 0 9 * * 1-5): it runs once at each local time it names, as Vixie cron
// does across DST. When clocks go back, a slot whose local time already
// came round before the change is not run again; when they go forward,
// the slots that fall in the skipped span run once, at the first instant
// after it. A schedule whose hour field is * (every hour, every few
// minutes) is left to robfig/cron, which runs it by elapsed time.
//
// The spec is read on local wall times written as UTC times, which have
// no DST: robfig/cron steps through them without meeting a change of
// offset, whatever its size (Lord Howe's is 30 minutes). Each wall time
// it names is then put back in loc.
type wallClock struct {
	spec *cron.SpecSchedule // Location is UTC
	loc  *time.Location
}

func (w wallClock) Next(from time.Time) time.Time {
	for next := w.spec.Next(wallTime(from.In(w.loc))); !next.IsZero(); next = w.spec.Next(next) {
		// A slot not after from is one whose local time came round a
		// first time before from, and comes round again after clocks went
		// back: it ran, or was due, already.
		if t := firstAt(next, w.loc); t.After(from) {
			return t.In(from.Location())
		}
	}
	return time.Time{}
}

// wallTime is t's local wall time written as a UTC time.
func wallTime(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// firstAt returns the first instant at which loc's clocks read wall (a
// wall time written as UTC): the earlier one when it comes round twice,
// and the first instant after the gap when clocks skip it.
func firstAt(wall time.Time, loc *time.Location) time.Time {
	t := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
	start, end := t.ZoneBounds()
	// A wall time in a gap has no instant: time.Date moves it by the
	// gap's length, forward or back depending on the zone.
	switch at := wallTime(t); {
	case at.After(wall):
		return start
	case at.Before(wall):
		return end
	}
	// time.Date may have taken the second time the wall time comes round;
	// the first is earlier by the step back, in the zone before.
	if start.IsZero() {
		return t
	}
	_, off := t.Zone()
	_, before := start.Add(-time.Nanosecond).Zone()
	if first := t.Add(-time.Duration(before-off) * time.Second); before > off && first.Before(start) {
		return first
	}
	return t
}

// Add registers job. A job added after Load is loaded at once.
func (s *Scheduler) Add(job actions.Job) error {
	if job.Name == "" || job.Run == nil {
		return errors.New("a job needs a name and something to run")
	}
	sched, err := Parse(job.Spec, job.TimeZone)
	if err != nil {
		return fmt.Errorf("job %s: %w", job.Name, err)
	}
	e := &entry{job: job, sched: sched, jitter: s.jitter(job.Name, sched)}
	s.mu.Lock()
	if _, dup := s.entries[job.Name]; dup {
		s.mu.Unlock()
		return fmt.Errorf("job %s is scheduled twice", job.Name)
	}
	s.entries[job.Name] = e
	loaded := s.loaded
	s.mu.Unlock()
	if loaded {
		if err := s.load(context.Background(), e); err != nil {
			return err
		}
		s.wake()
	}
	return nil
}

// Replace puts job in place of the job of the same name, or adds it when
// there is none: a config reload calls it for every job the new config
// declares. A job whose spec and time zone stay keeps its next slot, so
// a reload never fires it again; one whose schedule changed waits for the
// new schedule's next slot from now (nothing was missed while infrabot
// ran). A run going on keeps the job it started with; the next slot runs
// the new one. The persisted last run is the job name's and stays.
func (s *Scheduler) Replace(job actions.Job) error {
	if job.Name == "" || job.Run == nil {
		return errors.New("a job needs a name and something to run")
	}
	sched, err := Parse(job.Spec, job.TimeZone)
	if err != nil {
		return fmt.Errorf("job %s: %w", job.Name, err)
	}
	s.mu.Lock()
	e, ok := s.entries[job.Name]
	if !ok {
		s.mu.Unlock()
		return s.Add(job)
	}
	same := e.job.Spec == job.Spec && e.job.TimeZone == job.TimeZone
	e.job, e.sched, e.jitter = job, sched, s.jitter(job.Name, sched)
	if !same && !e.next.IsZero() {
		e.next = sched.Next(s.opts.Now())
	}
	s.mu.Unlock()
	s.wake()
	return nil
}

// Remove stops firing the named job and reports whether there was one. A
// run going on finishes; its last run stays in the store, so a job of the
// same name added later does not fire again for a slot already run.
func (s *Scheduler) Remove(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.entries[name]
	delete(s.entries, name)
	return ok
}

// jitter is a stable delay for the job's slots: at most MaxJitter and at
// most a tenth of its interval.
func (s *Scheduler) jitter(name string, sched cron.Schedule) time.Duration {
	return actions.Jitter(name, sched, s.opts.MaxJitter, 10)
}

// Load reads every job's last run and decides its next slot: a job that
// missed a slot while infrabot was down is due now (once, however many
// slots it missed); one that never ran waits for its first slot.
func (s *Scheduler) Load(ctx context.Context) error {
	s.mu.Lock()
	s.loaded = true
	entries := make([]*entry, 0, len(s.entries))
	for _, e := range s.entries {
		entries = append(entries, e)
	}
	s.mu.Unlock()
	for _, e := range entries {
		if err := s.load(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (s *Scheduler) load(ctx context.Context, e *entry) error {
	s.mu.Lock()
	name, sched := e.job.Name, e.sched
	s.mu.Unlock()
	last, ok, err := s.opts.LastRuns.LastRun(ctx, name)
	if err != nil {
		return fmt.Errorf("reading the last run of job %s: %w", name, err)
	}
	now := s.opts.Now()
	next := sched.Next(now)
	if ok {
		if due := sched.Next(last); !due.After(now) {
			next = now
			s.log.Info("job missed its slot while infrabot was down; running it once now", "job", name, "last_run", last, "missed", due)
		} else {
			next = due
		}
	}
	s.mu.Lock()
	e.next = next
	s.mu.Unlock()
	return nil
}

// RunDue starts every job whose slot has come, each in its own goroutine,
// and returns how many it started. A job still running from its previous
// slot is not started again; the slot is skipped.
func (s *Scheduler) RunDue(ctx context.Context) int {
	now := s.opts.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0
	}
	var due []*entry
	for _, e := range s.entries {
		if e.next.IsZero() || now.Before(e.next.Add(e.jitter)) {
			continue
		}
		if e.running {
			s.log.Warn("job still running from its previous slot; skipping this one", "job", e.job.Name, "slot", e.next)
			e.next = e.sched.Next(now)
			continue
		}
		due = append(due, e)
	}
	s.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].job.Name < due[j].job.Name })
	started := 0
	for _, e := range due {
		if s.fire(ctx, e, now) {
			started++
		}
	}
	return started
}

// fire runs e's due slot if the elector lets this process, recording the
// run before it starts: a crash during the job does not repeat it.
func (s *Scheduler) fire(ctx context.Context, e *entry, now time.Time) bool {
	s.mu.Lock()
	slot := e.next
	e.next = e.sched.Next(now)
	job := e.job // Replace may swap it; this slot runs the one it found
	s.mu.Unlock()
	ok, err := s.opts.Elector.MayFire(ctx, job.Name, slot)
	if err != nil {
		s.log.Warn("cannot tell whether this infrabot may fire the job; skipping the slot", "job", job.Name, "err", err)
		return false
	}
	if !ok {
		return false
	}
	// The job is counted as running before its run is recorded, so that
	// Close waits for what follows; and a stop that began meanwhile
	// takes the record back: a restart must not believe that a job ran
	// when it never started.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	e.running = true
	s.jobs.Add(1)
	s.mu.Unlock()
	forgo := func() {
		s.mu.Lock()
		e.running = false
		s.mu.Unlock()
		s.jobs.Done()
	}
	prev, _, err := s.opts.LastRuns.LastRun(ctx, job.Name)
	if err == nil {
		err = s.opts.LastRuns.SetLastRun(ctx, job.Name, now)
	}
	if err != nil {
		s.log.Error("cannot record the job's run; skipping the slot rather than risk running it twice", "job", job.Name, "err", err)
		forgo()
		return false
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		// Its last run as it was (none: the zero time, which makes it
		// due at the next start, as a slot missed while down is).
		if err := s.opts.LastRuns.SetLastRun(context.WithoutCancel(ctx), job.Name, prev); err != nil {
			s.log.Error("infrabot stopped as the job was to start, and taking back its recorded run failed: it will not run at the next start", "job", job.Name, "slot", slot, "err", err)
		}
		forgo()
		return false
	}
	go func() {
		defer s.jobs.Done()
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("job crashed", "job", job.Name, "panic", r)
			}
			s.mu.Lock()
			e.running = false
			s.mu.Unlock()
		}()
		if err := job.Run(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("job failed", "job", job.Name, "err", err)
		}
	}()
	return true
}

// Wait blocks until no job is running.
func (s *Scheduler) Wait() { s.jobs.Wait() }

// Next returns when the named job fires next (its slot plus its jitter),
// and false when there is no such job or it is not loaded yet.
func (s *Scheduler) Next(job string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[job]
	if !ok || e.next.IsZero() {
		return time.Time{}, false
	}
	return e.next.Add(e.jitter), true
}

// Start loads the jobs and fires them in the background until Close.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.Load(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	s.loop.Add(1)
	go s.run()
	return nil
}

// Running reports whether the scheduler fires jobs now (Start was called
// and Close was not), and how many jobs it has.
func (s *Scheduler) Running() (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started && !s.closed, len(s.entries)
}

func (s *Scheduler) run() {
	defer s.loop.Done()
	for s.ctx.Err() == nil {
		s.RunDue(s.ctx)
		wait := time.Minute
		now := s.opts.Now()
		s.mu.Lock()
		for _, e := range s.entries {
			if !e.next.IsZero() {
				wait = min(wait, e.next.Add(e.jitter).Sub(now))
			}
		}
		s.mu.Unlock()
		wait = max(wait, 10*time.Millisecond)
		sctx, cancel := context.WithCancel(s.ctx)
		go func() {
			select {
			case <-s.kick:
				cancel()
			case <-sctx.Done():
			}
		}()
		_ = s.opts.Sleep(sctx, wait)
		cancel()
	}
}

// wake makes the background loop look at the jobs again.
func (s *Scheduler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Close stops firing, cancels running jobs' context and waits for them.
func (s *Scheduler) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.loop.Wait()
	s.jobs.Wait()
}
