package deploy

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// stepOutput carries the output of one step on its hosts to the run's
// progress: each host is a step of the run, and its lines go in batches
// (StepHandle.Output) of at most flushLines, or at most flushEvery old,
// so that a host printing 100,000 lines costs a few hundred writes and
// message updates, not 100,000, and lines of different hosts never
// interleave one by one. Hosts are kept by name: a step's host names are
// unique (a deploy refuses servers that share one, see uniqueNames).
type stepOutput struct {
	ctx        context.Context
	p          *actions.Progress
	flushLines int
	name       func(host string) string

	mu    sync.Mutex
	hosts map[string]*hostOutput

	stop chan struct{}
	done chan struct{}
}

type hostOutput struct {
	mu    sync.Mutex
	step  *actions.StepHandle
	buf   []string
	lines int
}

func newStepOutput(ctx context.Context, p *actions.Progress, flushLines int, flushEvery time.Duration, name func(string) string) *stepOutput {
	o := &stepOutput{ctx: ctx, p: p, flushLines: flushLines, name: name, hosts: map[string]*hostOutput{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go o.flusher(flushEvery)
	return o
}

// flusher sends what hosts have buffered every interval, so that a host
// printing slowly is seen without waiting for a full batch.
func (o *stepOutput) flusher(every time.Duration) {
	defer close(o.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
		}
		o.mu.Lock()
		hosts := make([]*hostOutput, 0, len(o.hosts))
		for _, h := range o.hosts {
			hosts = append(hosts, h)
		}
		o.mu.Unlock()
		for _, h := range hosts {
			h.mu.Lock()
			h.flush(o.ctx)
			h.mu.Unlock()
		}
	}
}

func (o *stepOutput) close() {
	close(o.stop)
	<-o.done
}

func (o *stepOutput) start(h Host) {
	ho := &hostOutput{step: o.p.Step(o.ctx, o.name(h.Name)), buf: make([]string, 0, o.flushLines)}
	o.mu.Lock()
	o.hosts[h.Name] = ho
	o.mu.Unlock()
}

func (o *stepOutput) host(name string) *hostOutput {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hosts[name]
}

func (o *stepOutput) line(h Host, line string) {
	ho := o.host(h.Name)
	ho.mu.Lock()
	defer ho.mu.Unlock()
	ho.buf = append(ho.buf, line)
	ho.lines++
	if len(ho.buf) >= o.flushLines {
		ho.flush(o.ctx)
	}
}

func (o *stepOutput) end(res *HostResult) {
	ho := o.host(res.Host.Name)
	ho.mu.Lock()
	defer ho.mu.Unlock()
	ho.flush(o.ctx)
	switch {
	case res.Err == nil:
		ho.step.Done(o.ctx, "%s of output", actions.Plural(ho.lines, "line"))
	case errors.Is(res.Err, context.Canceled):
		ho.step.Fail(o.ctx, context.Canceled)
	default:
		ho.step.Fail(o.ctx, res.Err)
	}
}

// flush hands the buffered lines over. h.mu is held.
func (h *hostOutput) flush(ctx context.Context) {
	if len(h.buf) == 0 {
		return
	}
	h.step.Output(ctx, h.buf...)
	h.buf = h.buf[:0]
}

func errorsIsCanceled(err error) bool { return errors.Is(err, context.Canceled) }
