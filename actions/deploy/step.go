package deploy

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Remote runs a command on a host; actions/ssh implements it over SSH.
type Remote interface {
	// Run runs cmd on host (an address, host or host:port) and hands each
	// line it prints to out, one call at a time. It returns when the
	// command ends: nil on exit status 0. It stops the command when ctx
	// ends. Errors carry a message for chat (actions.ErrorMessage).
	Run(ctx context.Context, host, cmd string, out func(line string)) error
}

// RedactingRemote is a Remote that can redact each line whole before it
// cuts a long one into pieces (as actions/ssh does past its MaxLine).
// RunStep runs commands through it when the Remote is one: a secret that
// a cut splits in two is in neither piece, so redacting the pieces would
// leave both halves in the transcript, the live message and the log.
type RedactingRemote interface {
	// RunRedacted is Run with every line passed through redact before it
	// is cut and handed to out.
	RunRedacted(ctx context.Context, host, cmd string, redact func(string) string, out func(line string)) error
}

// Host is a server a step runs on.
type Host struct {
	Name string // as people know it: staging-logserver-1, or "bastion"
	Addr string // what Remote dials
}

// StepOptions say how a step runs across its hosts.
type StepOptions struct {
	// Parallel bounds how many hosts run the step at once (default 4).
	Parallel int
	// KeepGoing lets the other hosts finish when one fails. By default
	// the first failure stops the step everywhere (fail fast).
	KeepGoing bool
	// Timeout bounds the step on each host; 0 means no bound but ctx's.
	Timeout time.Duration
	// Redact hides secret values in output before anything sees it: the
	// kernel's one redactor (Handle.Redactor), which knows every secret
	// of the configuration.
	Redact *actions.Redactor
	// OnStart, when set, is called as the step starts on a host, before
	// any of its lines.
	OnStart func(h Host)
	// OnLine, when set, sees every line (redacted) as it arrives, for the
	// live progress message. Calls for one host never overlap; calls for
	// different hosts may.
	OnLine func(h Host, line string)
	// OnEnd, when set, is called as the step ends on a host it started
	// on, after all its lines.
	OnEnd func(res *HostResult)
	// Head and Tail bound each host's transcript (defaults DefaultHead,
	// DefaultTail).
	Head, Tail int
}

// HostResult is how a step went on one host.
type HostResult struct {
	Host   Host
	Err    error // nil when the command succeeded
	Output *Transcript
	// Started is false for a host the step never reached because another
	// host failed first.
	Started bool
}

// ErrNotStarted is the error of a host skipped because another failed.
var ErrNotStarted = actions.Errorf(actions.Conflict, "not started: another host failed first")

// RunStep runs cmd on every host, at most opt.Parallel at a time, and
// returns each host's result in the hosts' order.
func RunStep(ctx context.Context, r Remote, hosts []Host, cmd string, opt StepOptions) []HostResult {
	if opt.Parallel <= 0 {
		opt.Parallel = 4
	}
	if opt.Head == 0 && opt.Tail == 0 {
		opt.Head, opt.Tail = DefaultHead, DefaultTail
	}
	// run runs cmd on host and hands out its lines redacted.
	run := func(ctx context.Context, host string, out func(line string)) error {
		return r.Run(ctx, host, cmd, func(line string) { out(opt.Redact.String(line)) })
	}
	if rr, ok := r.(RedactingRemote); ok {
		run = func(ctx context.Context, host string, out func(line string)) error {
			return rr.RunRedacted(ctx, host, cmd, opt.Redact.String, out)
		}
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	results := make([]HostResult, len(hosts))
	sem := make(chan struct{}, opt.Parallel)
	var wg sync.WaitGroup
	var failed sync.Once
	for i, h := range hosts {
		results[i] = HostResult{Host: h, Output: &Transcript{Head: opt.Head, Tail: opt.Tail}, Err: ErrNotStarted}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		if ctx.Err() != nil {
			<-sem
			continue
		}
		results[i].Started = true
		wg.Add(1)
		go func(res *HostResult) {
			defer wg.Done()
			defer func() { <-sem }()
			hctx, cancel := ctx, context.CancelFunc(func() {})
			if opt.Timeout > 0 {
				hctx, cancel = context.WithTimeout(ctx, opt.Timeout)
			}
			defer cancel()
			if opt.OnStart != nil {
				opt.OnStart(res.Host)
			}
			res.Err = run(hctx, res.Host.Addr, func(line string) {
				res.Output.Add(line)
				if opt.OnLine != nil {
					opt.OnLine(res.Host, line)
				}
			})
			if opt.OnEnd != nil {
				opt.OnEnd(res)
			}
			if res.Err != nil && !opt.KeepGoing && !errors.Is(res.Err, context.Canceled) {
				failed.Do(stop)
			}
		}(&results[i])
	}
	wg.Wait()
	return results
}
