package deploy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// Name is the module's name, for Engine.Module.
const Name = "deploy"

// DefaultTarget is the deploy target run when none is named.
const DefaultTarget = "default"

// Bastion is what steps with `on: bastion` and plans call the jump host.
const Bastion = "bastion"

// Step is one command of a deploy target or of bootstrap.
type Step struct {
	Command *Command
	// On is where the step runs: "all" (every server of the
	// environment; "" means the same), "bastion", or the name of a
	// server declaration (its servers <env>-<name>-<n>).
	On string
	// Timeout bounds the step on each host (DefaultStepTimeout when 0).
	Timeout time.Duration
	// KeepGoing lets the other hosts finish when one fails.
	KeepGoing bool
}

// DefaultStepTimeout bounds a step on one host when it does not say.
const DefaultStepTimeout = 10 * time.Minute

// Environment is what the deploy module knows of one environment.
type Environment struct {
	Name string
	// Servers are the names of its server declarations, for `on:`.
	Servers []string
	// Bastion is the jump host's address, "" when there is none.
	Bastion string
	// Bootstrap runs on servers provision creates; Targets are the
	// deploy targets by name.
	Bootstrap []Step
	Targets   map[string][]Step
	Params    []Param
	// Parallel bounds the hosts running a step at once (default 4).
	Parallel int
	// ReadyTimeout bounds how long bootstrap waits for SSH to come up on
	// a new server (DefaultReadyTimeout when 0).
	ReadyTimeout time.Duration
}

// DefaultReadyTimeout is how long bootstrap waits for a new server's SSH.
const DefaultReadyTimeout = 5 * time.Minute

// Inventory lists the servers infrabot owns in an environment, as its
// cloud reports them (actions.Cloud's Servers).
type Inventory func(ctx context.Context, env string) ([]actions.Server, error)

// Options are what the module reaches the world with, and how it batches
// output.
type Options struct {
	// Remotes run commands on each environment's hosts, by environment.
	Remotes map[string]Remote
	// Inventory lists an environment's servers.
	Inventory Inventory
	// FlushLines and FlushEvery batch a host's output on its way to the
	// run's log and live message: a batch goes when it holds FlushLines
	// lines or is FlushEvery old, whichever comes first (defaults
	// DefaultFlushLines, DefaultFlushEvery).
	FlushLines int
	FlushEvery time.Duration
	// ReadyBackoff is the first wait between SSH probes of a new server;
	// it doubles up to MaxReadyBackoff (default DefaultReadyBackoff).
	ReadyBackoff time.Duration
}

// Output batching and SSH probing defaults.
const (
	DefaultFlushLines   = 200
	DefaultFlushEvery   = 500 * time.Millisecond
	DefaultReadyBackoff = time.Second
	MaxReadyBackoff     = 15 * time.Second
)

// Module is the deploy module: `deploy <env> [target]`, and bootstrap of
// the servers provision creates (see Bootstrap).
type Module struct {
	h    *actions.Handle
	envs map[string]Environment
	opts Options
}

// New makes the module on h and registers `deploy`. Its flags are every
// parameter any environment declares; each environment checks its own.
func New(h *actions.Handle, envs []Environment, opts Options) *Module {
	if opts.FlushLines <= 0 {
		opts.FlushLines = DefaultFlushLines
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.ReadyBackoff <= 0 {
		opts.ReadyBackoff = DefaultReadyBackoff
	}
	m := &Module{h: h, envs: map[string]Environment{}, opts: opts}
	var flags []actions.Flag
	for _, env := range envs {
		if env.Parallel <= 0 {
			env.Parallel = 4
		}
		if env.ReadyTimeout <= 0 {
			env.ReadyTimeout = DefaultReadyTimeout
		}
		m.envs[env.Name] = env
		for _, p := range env.Params {
			if !slices.ContainsFunc(flags, func(f actions.Flag) bool { return f.Name == p.Name }) {
				flags = append(flags, actions.Flag{Name: p.Name, Help: "a deploy parameter, --" + p.Name + "=VALUE, checked against its pattern"})
			}
		}
	}
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	h.Register(&actions.Action{
		Name: "deploy", Summary: "run an environment's deploy steps over SSH on its hosts",
		Help: "`deploy staging` runs the target `default`; `deploy staging logserver` another. Parameters are given as " +
			"--name=value and checked against their pattern; each is passed to the command as one quoted word. " +
			"The plan says which step runs on which hosts; the live message shows each host's latest lines, " +
			"`run <id> log` the whole output.",
		Args: []actions.Arg{
			{Name: "env", Kind: actions.ArgEnv},
			{Name: "target", Kind: actions.ArgWord, Optional: true},
		},
		Flags:   flags,
		Mutates: true,
		Plan:    m.plan,
		Execute: m.execute,
	})
	return m
}

// stepPlan is one step of a deploy as planned: its command as it will
// run, and its hosts.
type stepPlan struct {
	n, of int
	step  Step
	cmd   string
	hosts []Host
	ids   map[string]string // server ids by host name
	// prefix starts the names of the run's steps ("bootstrap ").
	prefix string
}

func (s stepPlan) name(host string) string {
	return fmt.Sprintf("%sstep %d/%d on %s", s.prefix, s.n, s.of, host)
}

func (m *Module) env(name string) (Environment, Remote, error) {
	env, ok := m.envs[name]
	if !ok || len(env.Targets) == 0 && len(env.Bootstrap) == 0 {
		return env, nil, actions.Errorf(actions.Invalid, "%s has no deploy steps in the config (environments.%s.deploy)", name, name)
	}
	r := m.opts.Remotes[name]
	if r == nil {
		return env, nil, actions.Errorf(actions.Invalid, "%s has no ssh settings to run its steps with", name)
	}
	return env, r, nil
}

// steps resolves a target's steps for req: parameters checked, commands
// expanded, hosts found.
func (m *Module) steps(ctx context.Context, req *actions.Request) (Environment, string, []stepPlan, error) {
	env, _, err := m.env(req.Env)
	if err != nil {
		return env, "", nil, err
	}
	target := strings.ToLower(req.Arg("target"))
	if target == "" {
		target = DefaultTarget
	}
	steps, ok := env.Targets[target]
	if !ok {
		names := slices.Sorted(maps.Keys(env.Targets))
		return env, target, nil, actions.Errorf(actions.NotFound, "%s has no deploy target %q; its targets: %s", env.Name, target, actions.ListOr(names, "none"))
	}
	values, err := Resolve(env.Params, req.Flags)
	if err != nil {
		return env, target, nil, err
	}
	servers, err := m.servers(ctx, env)
	if err != nil {
		return env, target, nil, err
	}
	if err := uniqueNames(env.Name, servers); err != nil {
		return env, target, nil, err
	}
	plans, err := planSteps(env, steps, values, servers)
	return env, target, plans, err
}

func (m *Module) servers(ctx context.Context, env Environment) ([]actions.Server, error) {
	if m.opts.Inventory == nil {
		return nil, nil
	}
	servers, err := m.opts.Inventory(ctx, env.Name)
	if err != nil {
		return nil, err
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].Name < servers[j].Name })
	return servers, nil
}

// uniqueNames refuses servers that share a name. A deploy goes by name:
// the plan binds each name to one id, and each host's progress is kept
// under its name, so it could not tell two such servers apart. provision
// resolves them: of a declared name it keeps the oldest healthy server
// and deletes the others, and it deletes servers no longer declared.
func uniqueNames(env string, servers []actions.Server) error {
	ids := map[string][]string{}
	var dup []string
	for _, s := range servers {
		if len(ids[s.Name]) == 1 {
			dup = append(dup, s.Name)
		}
		ids[s.Name] = append(ids[s.Name], s.ID)
	}
	if len(dup) == 0 {
		return nil
	}
	var each []string
	for _, name := range dup {
		slices.Sort(ids[name])
		each = append(each, fmt.Sprintf("%s (%s)", name, strings.Join(ids[name], ", ")))
	}
	return actions.Errorf(actions.Conflict, "%s has more than one server named %s, and a deploy cannot tell them apart: "+
		"`plan %s` shows which of them `provision %s` deletes; deploy again once it has", env, strings.Join(each, "; "), env, env)
}

// planSteps expands steps' commands with values and finds their hosts
// among servers. A step with no host to run on is refused: a deploy
// that silently does nothing is worse than one that says why.
func planSteps(env Environment, steps []Step, values map[string]string, servers []actions.Server) ([]stepPlan, error) {
	var out []stepPlan
	for i, st := range steps {
		cmd, err := st.Command.Expand(values)
		if err != nil {
			return nil, actions.Errorf(actions.Invalid, "step %d: %v", i+1, err)
		}
		sp := stepPlan{n: i + 1, of: len(steps), step: st, cmd: cmd, ids: map[string]string{}}
		sp.hosts, err = hostsFor(env, st.On, servers, sp.ids)
		if err != nil {
			return nil, actions.Errorf(actions.Invalid, "step %d: %s", i+1, actions.ErrorMessage(err))
		}
		out = append(out, sp)
	}
	return out, nil
}

// hostsFor returns the hosts a step with `on: on` runs on, among
// servers, recording their ids in ids.
func hostsFor(env Environment, on string, servers []actions.Server, ids map[string]string) ([]Host, error) {
	if on == Bastion {
		if env.Bastion == "" {
			return nil, actions.Errorf(actions.Invalid, "it runs on the bastion, and %s has none", env.Name)
		}
		return []Host{{Name: Bastion, Addr: env.Bastion}}, nil
	}
	var hosts []Host
	var down []string
	for _, s := range servers {
		if on != "" && on != "all" && Declaration(env.Name, env.Servers, s.Name) != on {
			continue
		}
		if s.Status != actions.StatusActive || len(s.Addresses) == 0 {
			down = append(down, fmt.Sprintf("%s (%s)", s.Name, s.Status))
			continue
		}
		hosts = append(hosts, Host{Name: s.Name, Addr: s.Addresses[0]})
		ids[s.Name] = s.ID
	}
	if len(down) > 0 {
		return nil, actions.Errorf(actions.Unavailable, "%s not ACTIVE with an address; run `provision %s` first", strings.Join(down, ", "), env.Name)
	}
	if len(hosts) == 0 {
		where := "servers"
		if on != "" && on != "all" {
			where = on + " servers"
		}
		return nil, actions.Errorf(actions.Invalid, "%s has no %s to run it on; run `provision %s` first", env.Name, where, env.Name)
	}
	return hosts, nil
}

// Declaration returns the server declaration (among decls) that server
// name <env>-<decl>-<n> belongs to, or "".
func Declaration(env string, decls []string, name string) string {
	best := ""
	for _, d := range decls {
		rest, ok := strings.CutPrefix(name, env+"-"+d+"-")
		if ok && rest != "" && strings.Trim(rest, "0123456789") == "" && len(d) > len(best) {
			best = d
		}
	}
	return best
}

func (m *Module) plan(ctx context.Context, req *actions.Request) (actions.Plan, error) {
	env, target, steps, err := m.steps(ctx, req)
	if err != nil {
		return actions.Plan{}, err
	}
	return deployPlan(env, target, steps), nil
}

// deployPlan is the plan of a deploy: one item per step and host, bound
// (by the plan's hash) to each command as it will run, to each server's
// id (the bastion's address, for a step on the bastion), and to how the
// step runs (its timeout, whether it keeps going); lines say which step
// runs where.
func deployPlan(env Environment, target string, steps []stepPlan) actions.Plan {
	hosts := map[string]bool{}
	p := actions.Plan{}
	for _, s := range steps {
		timeout := s.step.Timeout
		if timeout <= 0 {
			timeout = DefaultStepTimeout
		}
		how := fmt.Sprintf("timeout %s", timeout)
		if s.step.KeepGoing {
			how += ", keep going"
		}
		var names []string
		for _, h := range s.hosts {
			hosts[h.Name] = true
			names = append(names, h.Name)
			it := actions.PlanItem{
				Op: actions.OpRun, Name: h.Name, ID: s.ids[h.Name], Command: s.cmd,
				Reason: fmt.Sprintf("step %d of %d, %s", s.n, s.of, how),
			}
			if s.step.On == Bastion {
				it.ID = h.Addr // the bastion has no server id: its address binds it
			}
			p.Items = append(p.Items, it)
		}
		on := s.step.On
		if on == "" {
			on = "all"
		}
		p.Lines = append(p.Lines, fmt.Sprintf("%d. on %s (%s): %s — %s", s.n, on, strings.Join(names, ", "), s.cmd, how))
	}
	p.Summary = fmt.Sprintf("deploy %s to %s: %s on %s", target, env.Name, actions.Plural(len(steps), "step"), actions.Plural(len(hosts), "host"))
	return p
}

func (m *Module) execute(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
	env, target, steps, err := m.steps(ctx, req)
	if err != nil {
		return err
	}
	// What runs is what was planned (and approved): hosts that changed
	// since then void it.
	if now := deployPlan(env, target, steps); now.Hash() != plan.Hash() {
		return actions.Errorf(actions.Conflict, "the servers of %s changed since the plan was made; run `%s` again to see the new plan", env.Name, req.Text())
	}
	_, remote, err := m.env(env.Name)
	if err != nil {
		return err
	}
	for _, s := range steps {
		if err := m.runStep(ctx, env, remote, s, p); err != nil {
			return err
		}
	}
	p.Note(ctx, "deployed %s to %s: %s", target, env.Name, plan.Summary)
	return nil
}

// runStep runs one step on its hosts, each host a step of the run with
// its own output, and returns the first failure.
func (m *Module) runStep(ctx context.Context, env Environment, remote Remote, s stepPlan, p *actions.Progress) error {
	timeout := s.step.Timeout
	if timeout <= 0 {
		timeout = DefaultStepTimeout
	}
	out := newStepOutput(ctx, p, m.opts.FlushLines, m.opts.FlushEvery, s.name)
	defer out.close()
	results := RunStep(ctx, remote, s.hosts, s.cmd, StepOptions{
		Parallel: env.Parallel, KeepGoing: s.step.KeepGoing, Timeout: timeout,
		Redact:  m.h.Redactor(),
		OnStart: out.start,
		OnLine:  out.line,
		OnEnd:   out.end,
	})
	return stepOutcome(ctx, s, results, p)
}

// stepOutcome says how a step went across its hosts: nil when it
// succeeded everywhere, the cancel when the run was cancelled, and
// otherwise which hosts failed and how.
func stepOutcome(ctx context.Context, s stepPlan, results []HostResult, p *actions.Progress) error {
	var skipped, failed []string
	var first error
	for _, r := range results {
		switch {
		case !r.Started:
			skipped = append(skipped, r.Host.Name)
		case r.Err != nil && ctx.Err() == nil && !isCancel(r.Err):
			failed = append(failed, fmt.Sprintf("%s: %s", r.Host.Name, actions.ErrorMessage(r.Err)))
			if first == nil {
				first = r.Err
			}
		}
	}
	if len(skipped) > 0 {
		p.Note(ctx, "step %d/%d did not start on %s: another host failed first", s.n, s.of, strings.Join(skipped, ", "))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if first == nil {
		return nil
	}
	msg := fmt.Sprintf("step %d/%d (`%s`) failed on %s", s.n, s.of, s.step.Command.String(), failed[0])
	if len(failed) > 1 {
		msg = fmt.Sprintf("step %d/%d (`%s`) failed on %d of %d hosts: %s", s.n, s.of, s.step.Command.String(), len(failed), len(results), strings.Join(failed, "; "))
	}
	return &actions.Error{Kind: actions.ErrorKind(first), Message: msg, Err: first}
}

func isCancel(err error) bool {
	return err == ErrNotStarted || errorsIsCanceled(err)
}
