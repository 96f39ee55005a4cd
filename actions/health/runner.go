package health

import (
	"context"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Result is the outcome of one run of a check.
type Result struct {
	Time    time.Time     `json:"t"`           // when it started, on infrabot's clock
	OK      bool          `json:"ok"`          // it passed
	Detail  string        `json:"d,omitempty"` // what failed, or a short note
	Latency time.Duration `json:"l,omitempty"` // how long the probe took
	// Due is when the check was due (its slot plus its jitter): Time
	// minus Due is how late it started. Not stored.
	Due time.Time `json:"-"`
}

// tick is the probe job: it starts every check due now (and, with a
// lookahead, those due before the next tick, each at its own time). It
// returns at once; the probes run on their own, so a slow target holds up
// no tick and no other check.
func (x *Module) tick(ctx context.Context) error {
	if err := x.ready(ctx); err != nil {
		return err
	}
	now := x.h.Now()
	horizon := now.Add(x.opts.Lookahead)
	r := x.r()
	for _, name := range r.order {
		cs := r.checks[name]
		cs.mu.Lock()
		due := cs.next
		if due.After(horizon) {
			cs.mu.Unlock()
			continue
		}
		d := cs.d() // one definition, if a reload swaps it meanwhile
		cs.next = d.sched.Next(due.Add(-d.jitter)).Add(d.jitter)
		if !cs.next.After(now) {
			// Far behind (the clock jumped): the next slot from now.
			cs.next = d.sched.Next(now).Add(d.jitter)
		}
		if cs.running {
			cs.mu.Unlock()
			x.h.Log().Debug("check still running from its previous slot; skipping this one", "check", name, "slot", due)
			continue
		}
		cs.running = true
		cs.mu.Unlock()
		x.wg.Add(1)
		go x.runAt(ctx, cs, due, now)
	}
	return nil
}

// runAt waits (in real time) until due when it is after now, then hands
// the run to a probe worker.
func (x *Module) runAt(ctx context.Context, cs *checkState, due, now time.Time) {
	if d := due.Sub(now); d > 0 && actions.Sleep(ctx, d) != nil {
		cs.mu.Lock()
		cs.running = false
		cs.mu.Unlock()
		x.wg.Done()
		return
	}
	x.dispatch(probeJob{ctx: ctx, cs: cs, due: due})
}

// probeJob is one scheduled run of a check, for a probe worker.
type probeJob struct {
	ctx context.Context
	cs  *checkState
	due time.Time
}

// workerIdle is how long a probe worker waits for the next run before it
// ends.
const workerIdle = 5 * time.Second

// dispatch gives j to an idle probe worker, or to a new one while there
// are fewer than the limit, or else to the first that finishes. Workers
// are reused from run to run, so that their stacks, grown by the HTTP
// client, are not grown again for every run (a goroutine per run spent
// about a tenth of the CPU growing stacks). Each run still has its own
// timeout, and there are as many workers as runs may happen at once, so
// a hanging target holds up one worker, as it held one slot before.
func (x *Module) dispatch(j probeJob) {
	for {
		select {
		case x.jobs <- j:
			return
		default:
		}
		if x.workers.Add(1) <= int32(x.opts.Limit) {
			go x.worker(j)
			return
		}
		x.workers.Add(-1)
		select {
		case x.jobs <- j:
			return
		case <-x.left: // a worker ended meanwhile: start one instead
		}
	}
}

// worker runs j, then whatever run it is handed next, until none comes
// for workerIdle.
func (x *Module) worker(j probeJob) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		x.runJob(j)
		idle.Reset(workerIdle)
		select {
		case j = <-x.jobs:
			continue
		case <-idle.C:
		}
		select {
		case j = <-x.jobs: // one came as the timer fired
			continue
		default:
		}
		x.workers.Add(-1)
		select {
		case x.left <- struct{}{}: // wakes a dispatch waiting for a worker
		default:
		}
		return
	}
}

// runJob runs one scheduled run of a check and records its result.
func (x *Module) runJob(j probeJob) {
	defer x.wg.Done()
	cs := j.cs
	r, err := x.run(j.ctx, cs, j.due)
	cs.mu.Lock()
	cs.running = false
	cs.mu.Unlock()
	if err != nil {
		if j.ctx.Err() == nil {
			x.h.Log().Warn("recording a check's result failed", "check", cs.d().check.Name, "err", err)
		}
		return
	}
	if x.opts.OnResult != nil {
		x.opts.OnResult(cs.d().check.Name, r)
	}
}

// run runs cs once under the global limit and records the result; due is
// when it was due (the zero time for a run asked for in chat).
func (x *Module) run(ctx context.Context, cs *checkState, due time.Time) (Result, error) {
	select {
	case x.sem <- struct{}{}:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	started := x.h.Now()
	r, record := x.probe(ctx, cs)
	<-x.sem
	if ctx.Err() != nil {
		return r, ctx.Err() // cut short by a stop: not the target's fault
	}
	r.Time, r.Due = started, due
	if due.IsZero() {
		r.Due = started
	}
	if !record {
		return r, nil
	}
	kind := cs.d().check.Kind
	x.stats.result(kind, r, kind != Heartbeat)
	return r, x.record(ctx, cs, r)
}

// probe runs the check; record is false when there is nothing to record
// (a heartbeat that is not late).
func (x *Module) probe(ctx context.Context, cs *checkState) (Result, bool) {
	d := cs.d()
	c := &d.check
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	start := time.Now()
	var r Result
	switch c.Kind {
	case HTTP:
		r = x.probeHTTP(ctx, c)
	case TCP:
		r = probeTCP(ctx, c)
	case OpenStack:
		r = x.probeOpenStack(ctx, c)
	case SSH:
		r = x.probeSSH(ctx, c)
	case Heartbeat:
		return x.heartbeatDue(cs)
	}
	r.Latency = time.Since(start)
	// An ssh check says itself which hosts gave no answer in time.
	if ctx.Err() == context.DeadlineExceeded && !r.OK && c.Kind != SSH {
		r.Detail = "no answer within " + c.Timeout.String()
	}
	return r, true
}
