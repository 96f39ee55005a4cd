package health

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/infrabot/infrabot/actions"
)

// Shell runs ssh checks' commands. The wiring implements it with the
// environment's SSH executor, the one deploys use (so host keys are
// verified exactly as for a deploy), and the deploy module's reading of
// `on:` (all, bastion, or a server declaration).
type Shell interface {
	// Run runs cmd on every host of environment env that on names, each
	// until ctx ends, and returns how it went on each host. An error is
	// a failure to find the hosts (an unknown environment, no server to
	// run on, a server not ACTIVE); a command that fails on a host is in
	// that host's ShellResult.
	Run(ctx context.Context, env, on, cmd string) ([]ShellResult, error)
}

// ShellResult is how an ssh check's command went on one host.
type ShellResult struct {
	Host string // as people know it: staging-promoter-1, or bastion
	// Err is nil when the command exited with status 0; its message
	// (actions.ErrorMessage) says why not: the exit status, a refused
	// host key, an unreachable host.
	Err error
	// Tail is the last lines the command printed (stdout and stderr),
	// already redacted.
	Tail []string
}

// tailLines is how many of a host's last lines a failure shows.
const tailLines = 5

// probeSSH passes when the command exits with status 0 on every host;
// the failure names each host where it did not, with why and the last
// lines it printed. A host stopped at the check's timeout gave "no answer
// within" it; the other hosts' failures are kept beside it.
func (x *Module) probeSSH(ctx context.Context, c *Check) Result {
	results, err := x.opts.Shell.Run(ctx, c.Environment, c.On, c.Run)
	timedOut := ctx.Err() == context.DeadlineExceeded
	if err != nil {
		if timedOut {
			return Result{Detail: "no answer within " + c.Timeout.String()}
		}
		return Result{Detail: actions.ErrorMessage(err)}
	}
	if len(results) == 0 {
		return Result{Detail: fmt.Sprintf("no host of %s to run it on", c.Environment)}
	}
	var bad []string
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		why := actions.ErrorMessage(r.Err)
		if timedOut && errors.Is(r.Err, context.DeadlineExceeded) {
			why = "no answer within " + c.Timeout.String()
		}
		line := r.Host + ": " + why
		if tail := lastLines(r.Tail, tailLines); tail != "" {
			line += ": " + tail
		}
		bad = append(bad, line)
	}
	if len(bad) > 0 {
		return Result{Detail: strings.Join(bad, "; ")}
	}
	if len(results) == 1 {
		note := results[0].Host + ": exit 0"
		if tail := lastLines(results[0].Tail, 1); tail != "" {
			note += ": " + tail
		}
		return Result{OK: true, Detail: note}
	}
	return Result{OK: true, Detail: fmt.Sprintf("exit 0 on %d hosts", len(results))}
}

// lastLines joins the last n non-blank lines of lines with " | ", each
// cut to a length a chat line can carry.
func lastLines(lines []string, n int) string {
	var keep []string
	for i := len(lines) - 1; i >= 0 && len(keep) < n; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if r := []rune(l); len(r) > 200 {
			l = string(r[:200]) + "…"
		}
		keep = append(keep, l)
	}
	for i, j := 0, len(keep)-1; i < j; i, j = i+1, j-1 {
		keep[i], keep[j] = keep[j], keep[i]
	}
	return strings.Join(keep, " | ")
}
