package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Bootstrap runs env's bootstrap steps on servers that provision just
// created, reporting in the provision run's progress p: it waits for SSH
// to come up on each (bounded backoff, at most the environment's
// ReadyTimeout), then runs each step on the new servers it names (`on:
// all` is every new server, a declaration's name its new servers,
// `bastion` the bastion). An environment without bootstrap steps has
// nothing to do.
func (m *Module) Bootstrap(ctx context.Context, envName string, servers []actions.Server, p *actions.Progress) error {
	env, ok := m.envs[envName]
	if !ok || len(env.Bootstrap) == 0 || len(servers) == 0 {
		return nil
	}
	_, remote, err := m.env(envName)
	if err != nil {
		return err
	}
	var hosts []Host
	for _, s := range servers {
		if len(s.Addresses) == 0 {
			return actions.Errorf(actions.Unavailable, "cannot bootstrap %s: the cloud reports no address for it", s.Name)
		}
		hosts = append(hosts, Host{Name: s.Name, Addr: s.Addresses[0]})
	}
	if err := m.waitReady(ctx, env, remote, hosts, p); err != nil {
		return err
	}
	for i, st := range env.Bootstrap {
		cmd, err := st.Command.Expand(defaults(env.Params))
		if err != nil {
			return actions.Errorf(actions.Invalid, "bootstrap step %d: %v", i+1, err)
		}
		sp := stepPlan{n: i + 1, of: len(env.Bootstrap), step: st, cmd: cmd, ids: map[string]string{}, prefix: "bootstrap "}
		sp.hosts, err = hostsFor(env, st.On, servers, sp.ids)
		if err != nil {
			// A declaration with no new server has nothing to bootstrap.
			p.Note(ctx, "bootstrap step %d/%d: nothing to run it on among the new servers", sp.n, sp.of)
			continue
		}
		if err := m.runStep(ctx, env, remote, sp, p); err != nil {
			return actions.Errorf(actions.ErrorKind(err), "bootstrap: %s", actions.ErrorMessage(err))
		}
	}
	return nil
}

// defaults are the values bootstrap steps get: the parameters' defaults
// (nobody types parameters for a provision).
func defaults(params []Param) map[string]string {
	out := map[string]string{}
	for _, p := range params {
		if p.HasDefault {
			out[p.Name] = p.Default
		}
	}
	return out
}

// hostKeyRefusal is an error for a host whose key was refused; waiting
// for SSH does not retry it: a refused key does not fix itself.
type hostKeyRefusal interface{ HostKeyRefused() bool }

// waitReady waits until every host accepts a command over SSH, each a
// step of the run ("wait for SSH on …"), probing with a backoff that
// doubles from ReadyBackoff up to MaxReadyBackoff, for at most the
// environment's ReadyTimeout. A refused host key is not retried.
func (m *Module) waitReady(ctx context.Context, env Environment, remote Remote, hosts []Host, p *actions.Progress) error {
	// One group: a provision of 200 servers says "up 150 of 200", not 200
	// lines.
	g := p.Group(ctx, actions.StepGroup{Name: "wait for SSH", Total: len(hosts), Done: "up", Running: "waiting for SSH"})
	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	sem := make(chan struct{}, env.Parallel)
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = m.waitOne(ctx, env, remote, h, g)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	var failed []string
	var first error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, hosts[i].Name)
			if first == nil {
				first = err
			}
		}
	}
	if first != nil {
		return &actions.Error{Kind: actions.ErrorKind(first), Err: first,
			Message: fmt.Sprintf("SSH did not come up on %s: %s", strings.Join(failed, ", "), actions.ErrorMessage(first))}
	}
	return nil
}

func (m *Module) waitOne(ctx context.Context, env Environment, remote Remote, h Host, g *actions.StepGroupHandle) error {
	step := g.Step(ctx, "wait for SSH on "+h.Name)
	wctx, cancel := context.WithTimeout(ctx, env.ReadyTimeout)
	defer cancel()
	wait := m.opts.ReadyBackoff
	for attempt := 1; ; attempt++ {
		err := remote.Run(wctx, h.Addr, "true", func(string) {})
		if err == nil {
			step.Done(ctx, "up after %s", actions.Plural(attempt, "attempt"))
			return nil
		}
		var hk hostKeyRefusal
		if errors.As(err, &hk) && hk.HostKeyRefused() {
			step.Fail(ctx, err)
			return err
		}
		if ctx.Err() != nil {
			step.Fail(ctx, ctx.Err())
			return ctx.Err()
		}
		if wctx.Err() != nil {
			err = &actions.Error{Kind: actions.Unavailable, Err: err,
				Message: fmt.Sprintf("not reachable within %s (%s; last: %s)", env.ReadyTimeout, actions.Plural(attempt, "attempt"), actions.ErrorMessage(err))}
			step.Fail(ctx, err)
			return err
		}
		step.Detail(ctx, "attempt %d: %s; next in %s", attempt, actions.ErrorMessage(err), wait)
		t := time.NewTimer(wait)
		select {
		case <-wctx.Done():
		case <-t.C:
		}
		t.Stop()
		wait = min(2*wait, MaxReadyBackoff)
	}
}

// TrustedKey is a host key an environment's SSH accepted on first use.
type TrustedKey struct {
	Host        string // as recorded: host, or [host]:port
	Type        string
	Fingerprint string
	File        string // the known_hosts file it was added to, if any
}

// AuditTrust records in the audit log that env's SSH accepted a host key
// on first use: nobody checked it, infrabot took the host's word.
func AuditTrust(ctx context.Context, h *actions.Handle, env string, k TrustedKey) {
	detail := fmt.Sprintf("trusted on first use: the %s key %s of %s", k.Type, k.Fingerprint, k.Host)
	if k.File != "" {
		detail += ", added to " + k.File
	}
	h.Audit(ctx, actions.AuditEntry{Person: "infrabot", Event: "host-key-trusted", Action: Name, Env: env, Detail: detail})
}
