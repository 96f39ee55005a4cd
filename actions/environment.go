package actions

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Environment is a declared set of servers on one cloud.
type Environment struct {
	Name     string
	Cloud    string
	Servers  []ServerDecl
	Timeout  time.Duration // per server, to become ACTIVE or go away
	Parallel int           // servers created or deleted at once
}

// ServerDecl declares Count servers named <env>-<Name>-<n>.
type ServerDecl struct {
	Name           string
	Count          int
	Flavor         string
	Image          string
	Networks       []string
	KeyName        string
	SecurityGroups []string
}

// Defaults for environments that do not say.
const (
	DefaultServerTimeout = 10 * time.Minute
	DefaultParallel      = 4
)

// CloudSource returns the cloud called name, connecting on first use.
type CloudSource func(ctx context.Context, name string) (Cloud, error)

// desired lists the servers env declares, by name.
func (env Environment) desired() map[string]ServerSpec {
	out := map[string]ServerSpec{}
	for _, d := range env.Servers {
		for n := 1; n <= d.Count; n++ {
			name := fmt.Sprintf("%s-%s-%d", env.Name, d.Name, n)
			out[name] = ServerSpec{
				Name: name, Flavor: d.Flavor, Image: d.Image,
				Networks: d.Networks, KeyName: d.KeyName, SecurityGroups: d.SecurityGroups,
				Metadata: map[string]string{MetaManaged: "true", MetaEnv: env.Name},
			}
		}
	}
	return out
}

// Convergence is what it takes to bring an environment to its declaration.
type Convergence struct {
	Create []ServerSpec
	Keep   []Server
	Delete []Server
}

// Converge compares what env declares with the servers infrabot owns in
// it. A server in ERROR is replaced: deleted, then created again.
func Converge(env Environment, actual []Server) Convergence {
	want := env.desired()
	var c Convergence
	byName := map[string][]Server{}
	for _, s := range actual {
		byName[s.Name] = append(byName[s.Name], s)
	}
	for name, spec := range want {
		have := byName[name]
		// Keep the oldest healthy one, whatever order the cloud lists
		// them in, so that the plan (and its hash) does not depend on it.
		sort.Slice(have, func(i, j int) bool {
			if !have[i].Created.Equal(have[j].Created) {
				return have[i].Created.Before(have[j].Created)
			}
			return have[i].ID < have[j].ID
		})
		healthy := false
		for _, s := range have {
			if s.Status != StatusError && !healthy {
				c.Keep = append(c.Keep, s)
				healthy = true
				continue
			}
			c.Delete = append(c.Delete, s) // in ERROR, or a duplicate
		}
		if !healthy {
			c.Create = append(c.Create, spec)
		}
		delete(byName, name)
	}
	for _, servers := range byName {
		c.Delete = append(c.Delete, servers...)
	}
	sort.Slice(c.Create, func(i, j int) bool { return naturalLess(c.Create[i].Name, c.Create[j].Name) })
	sort.Slice(c.Keep, func(i, j int) bool { return serverLess(c.Keep[i], c.Keep[j]) })
	sort.Slice(c.Delete, func(i, j int) bool { return serverLess(c.Delete[i], c.Delete[j]) })
	return c
}

// serverLess orders servers by name, naturally, then by ID.
func serverLess(a, b Server) bool {
	if naturalLess(a.Name, b.Name) {
		return true
	}
	if naturalLess(b.Name, a.Name) {
		return false
	}
	return a.ID < b.ID
}

// Plan renders the convergence for people. Lines hold nothing that changes
// on its own (like a server's state), so that the plan's hash changes only
// when the change it describes does.
func (c Convergence) Plan(env Environment) Plan {
	p := Plan{
		Summary: fmt.Sprintf("create %d, keep %d, delete %d", len(c.Create), len(c.Keep), len(c.Delete)),
		Deletes: len(c.Delete) > 0,
		Empty:   len(c.Create) == 0 && len(c.Delete) == 0,
	}
	decl := env.desired()
	for _, s := range c.Create {
		p.Lines = append(p.Lines, fmt.Sprintf("+ create %s (%s, %s, %s)", s.Name, s.Flavor, s.Image, listOr(s.Networks, "default network")))
	}
	for _, s := range c.Keep {
		line := "= keep   " + s.Name
		if spec, ok := decl[s.Name]; ok && s.Flavor != "" && spec.Flavor != s.Flavor {
			line += fmt.Sprintf(" (note: flavor is %s, declared %s; infrabot does not resize)", s.Flavor, spec.Flavor)
		}
		p.Lines = append(p.Lines, line)
	}
	p.Lines = append(p.Lines, c.deleteLines(env)...)
	if p.Empty {
		p.Lines = append(p.Lines, "nothing to change: the environment is as declared")
	}
	return p
}

// deleteLines returns the plan's line for each server in c.Delete, in
// order: what an approval of the plan allows to be deleted.
func (c Convergence) deleteLines(env Environment) []string {
	decl := env.desired()
	lines := make([]string, len(c.Delete))
	for i, s := range c.Delete {
		why := "no longer declared"
		if _, ok := decl[s.Name]; ok {
			why = "in ERROR, to be created again"
			if s.Status != StatusError {
				why = "a duplicate"
			}
		}
		lines[i] = fmt.Sprintf("- delete %s (id %s, %s)", s.Name, shortID(s.ID), why)
	}
	return lines
}

// teardownLine is the plan's line for a server a teardown deletes.
func teardownLine(s Server) string {
	return fmt.Sprintf("- delete %s (id %s)", s.Name, shortID(s.ID))
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// naturalLess orders "a-2" before "a-10".
func naturalLess(a, b string) bool {
	ai, bi := strings.LastIndexByte(a, '-'), strings.LastIndexByte(b, '-')
	if ai > 0 && bi > 0 && a[:ai] == b[:bi] {
		var an, bn int
		_, ea := fmt.Sscan(a[ai+1:], &an)
		_, eb := fmt.Sscan(b[bi+1:], &bn)
		if ea == nil && eb == nil {
			return an < bn
		}
	}
	return a < b
}

// Environments holds the declared environments and reaches their clouds.
type Environments struct {
	envs   map[string]Environment
	clouds CloudSource
	now    func() time.Time
}

// RegisterEnvironments adds plan, provision, teardown and status to e.
func RegisterEnvironments(e *Engine, envs []Environment, clouds CloudSource) *Environments {
	x := &Environments{envs: map[string]Environment{}, clouds: clouds, now: e.now}
	for _, env := range envs {
		if env.Timeout <= 0 {
			env.Timeout = DefaultServerTimeout
		}
		if env.Parallel <= 0 {
			env.Parallel = DefaultParallel
		}
		x.envs[env.Name] = env
	}
	envArg := []Arg{{Name: "env", Kind: ArgEnv}}
	e.Register(&Action{
		Name: "plan", Summary: "what provision would change, changing nothing",
		Args: envArg,
		Query: func(ctx context.Context, req *Request) (Message, error) {
			p, err := x.convergePlan(ctx, req)
			if err != nil {
				return Message{}, err
			}
			return Message{Title: "plan for " + req.Env, Summary: fmt.Sprintf("plan for %s: %s", req.Env, p.Summary), Lines: p.Lines}, nil
		},
	})
	e.Register(&Action{
		Name: "provision", Summary: "create what is declared and missing; converge the environment",
		Help: "Computes the plan, creates missing servers (a few at a time), waits until they are ACTIVE and keeps " +
			"one progress message up to date. It never deletes unless the plan says so, and a plan that deletes " +
			"always waits for a second person's approval. Running it again creates nothing new.",
		Args: envArg, Mutates: true,
		Plan:    x.convergePlan,
		Execute: x.provision,
	})
	e.Register(&Action{
		Name: "teardown", Summary: "delete every server of an environment (needs approval)",
		Help: "Destructive: always waits for a second person's approval, then deletes the environment's servers " +
			"and waits until they are gone. Servers infrabot did not create are never touched.",
		Args: envArg, Mutates: true, Destructive: true,
		Plan:    x.teardownPlan,
		Execute: x.teardown,
	})
	e.Register(&Action{
		Name: "status", Summary: "servers of an environment, or a line per environment",
		Args:  []Arg{{Name: "env", Kind: ArgEnv, Optional: true}},
		Query: x.status,
	})
	return x
}

func (x *Environments) cloud(ctx context.Context, env string) (Environment, Cloud, error) {
	e, ok := x.envs[env]
	if !ok {
		return Environment{}, nil, Errorf(NotFound, "there is no environment %q", env)
	}
	c, err := x.clouds(ctx, e.Cloud)
	if err != nil {
		return e, nil, err
	}
	return e, c, nil
}

func (x *Environments) converge(ctx context.Context, envName string) (Environment, Cloud, Convergence, error) {
	env, cl, err := x.cloud(ctx, envName)
	if err != nil {
		return env, nil, Convergence{}, err
	}
	servers, err := cl.Servers(ctx, env.Name)
	if err != nil {
		return env, nil, Convergence{}, err
	}
	return env, cl, Converge(env, servers), nil
}

func (x *Environments) convergePlan(ctx context.Context, req *Request) (Plan, error) {
	env, _, conv, err := x.converge(ctx, req.Env)
	if err != nil {
		return Plan{}, err
	}
	return conv.Plan(env), nil
}

func (x *Environments) teardownPlan(ctx context.Context, req *Request) (Plan, error) {
	env, cl, err := x.cloud(ctx, req.Env)
	if err != nil {
		return Plan{}, err
	}
	servers, err := cl.Servers(ctx, env.Name)
	if err != nil {
		return Plan{}, err
	}
	conv := Convergence{Delete: servers}
	sort.Slice(conv.Delete, func(i, j int) bool { return serverLess(conv.Delete[i], conv.Delete[j]) })
	p := Plan{Summary: fmt.Sprintf("delete %d", len(servers)), Deletes: len(servers) > 0, Empty: len(servers) == 0}
	for _, s := range conv.Delete {
		p.Lines = append(p.Lines, teardownLine(s))
	}
	if p.Empty {
		p.Lines = []string{"nothing to delete: infrabot owns no server in " + env.Name}
	}
	return p, nil
}

// provision converges the environment. It works from the servers as they
// are now, and deletes only servers the approved plan named.
func (x *Environments) provision(ctx context.Context, req *Request, plan Plan, p *Progress) error {
	env, cl, conv, err := x.converge(ctx, req.Env)
	if err != nil {
		return err
	}
	approvedDeletes := map[string]bool{}
	for _, l := range plan.Lines {
		if strings.HasPrefix(l, "- delete ") {
			approvedDeletes[l] = true
		}
	}
	var deletes []Server
	for i, line := range conv.deleteLines(env) {
		s := conv.Delete[i]
		if approvedDeletes[line] {
			deletes = append(deletes, s)
		} else {
			p.Note(ctx, "not deleting %s: its deletion was not in the approved plan", s.Name)
		}
	}
	if len(conv.Create) == 0 && len(deletes) == 0 {
		p.Note(ctx, "nothing to do: %s is as declared (%d servers)", env.Name, len(conv.Keep))
		return nil
	}
	var failed []string
	if err := x.deleteAll(ctx, env, cl, deletes, p); err != nil {
		return err
	}
	created := forEach(ctx, env.Parallel, conv.Create, func(ctx context.Context, spec ServerSpec) error {
		return x.createOne(ctx, env, cl, spec, p)
	})
	for i, err := range created {
		if err != nil {
			failed = append(failed, conv.Create[i].Name)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(failed) > 0 {
		others := ""
		if len(failed) < len(conv.Create) {
			others = " the others are ACTIVE."
		}
		return Errorf(Unavailable, "%d of %d servers could not be created (%s);%s Run `provision %s` again to finish",
			len(failed), len(conv.Create), strings.Join(failed, ", "), others, env.Name)
	}
	p.Note(ctx, "%s is as declared: %d created, %d kept, %d deleted", env.Name, len(conv.Create), len(conv.Keep), len(deletes))
	return nil
}

// createOne creates a server and waits for it. A server that goes to
// ERROR is deleted again, so that a failed run leaves nothing half-made.
func (x *Environments) createOne(ctx context.Context, env Environment, cl Cloud, spec ServerSpec, p *Progress) error {
	step := p.Step(ctx, "create "+spec.Name)
	s, err := cl.Create(ctx, spec)
	if err != nil {
		step.Fail(ctx, err)
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	_, err = cl.WaitActive(wctx, s.ID, func(s Server) {
		step.Detail(ctx, "%s", s.Status)
	})
	if err != nil {
		step.Fail(ctx, err)
		x.removeFailed(ctx, env, cl, s.ID, spec.Name, p)
		return err
	}
	step.Done(ctx, "ACTIVE")
	return nil
}

// removeFailed deletes a server this run created that did not become
// ACTIVE, so the environment holds nothing half-made. When the run was
// not cancelled it waits until the server is gone: until then Nova still
// lists it (and counts it against quota), and the next plan would see it in
// ERROR and ask to delete it again. A cancelled run only asks for the
// deletion, so that cancelling stays quick.
func (x *Environments) removeFailed(ctx context.Context, env Environment, cl Cloud, id, name string, p *Progress) {
	cancelled := ctx.Err() != nil
	timeout := env.Timeout
	if cancelled {
		timeout = 30 * time.Second
	}
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer dcancel()
	err := cl.Delete(dctx, id)
	if err == nil && !cancelled {
		err = cl.WaitGone(dctx, id)
	}
	if err != nil {
		p.Note(ctx, "could not delete the unfinished server %s (id %s): %s", name, id, ErrorMessage(err))
		return
	}
	p.Note(ctx, "deleted the unfinished server %s", name)
}

func (x *Environments) deleteAll(ctx context.Context, env Environment, cl Cloud, servers []Server, p *Progress) error {
	errs := forEach(ctx, env.Parallel, servers, func(ctx context.Context, s Server) error {
		step := p.Step(ctx, "delete "+s.Name)
		if err := cl.Delete(ctx, s.ID); err != nil {
			step.Fail(ctx, err)
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, env.Timeout)
		defer cancel()
		if err := cl.WaitGone(wctx, s.ID); err != nil {
			step.Fail(ctx, err)
			return err
		}
		step.Done(ctx, "gone")
		return nil
	})
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, servers[i].Name)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return Errorf(Unavailable, "%d of %d servers could not be deleted (%s); run the command again to finish", len(failed), len(servers), strings.Join(failed, ", "))
	}
	return nil
}

func (x *Environments) teardown(ctx context.Context, req *Request, plan Plan, p *Progress) error {
	env, cl, err := x.cloud(ctx, req.Env)
	if err != nil {
		return err
	}
	servers, err := cl.Servers(ctx, env.Name)
	if err != nil {
		return err
	}
	approved := map[string]bool{}
	for _, l := range plan.Lines {
		approved[l] = true
	}
	var deletes []Server
	for _, s := range servers {
		if approved[teardownLine(s)] {
			deletes = append(deletes, s)
		} else {
			p.Note(ctx, "not deleting %s: it appeared after the teardown was approved", s.Name)
		}
	}
	if err := x.deleteAll(ctx, env, cl, deletes, p); err != nil {
		return err
	}
	p.Note(ctx, "%s torn down: %d servers deleted", env.Name, len(deletes))
	return nil
}

// forEach calls fn for every item, at most parallel at once, and returns
// the errors in the items' order.
func forEach[T any](ctx context.Context, parallel int, items []T, fn func(context.Context, T) error) []error {
	errs := make([]error, len(items))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, item := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(ctx, item)
		}()
	}
	wg.Wait()
	return errs
}

func (x *Environments) status(ctx context.Context, req *Request) (Message, error) {
	if req.Env != "" {
		return x.envStatus(ctx, req.Env)
	}
	names := make([]string, 0, len(x.envs))
	for n := range x.envs {
		names = append(names, n)
	}
	sort.Strings(names)
	m := Message{Title: "environments", Summary: fmt.Sprintf("%d environments", len(names))}
	for _, n := range names {
		env := x.envs[n]
		declared := len(env.desired())
		_, cl, err := x.cloud(ctx, n)
		var servers []Server
		if err == nil {
			servers, err = cl.Servers(ctx, n)
		}
		if err != nil {
			m.Lines = append(m.Lines, fmt.Sprintf("%-12s cloud %s: %s", n, env.Cloud, ErrorMessage(err)))
			continue
		}
		m.Lines = append(m.Lines, fmt.Sprintf("%-12s %d/%d servers (%s) on %s", n, len(servers), declared, countStates(servers), env.Cloud))
	}
	return m, nil
}

func countStates(servers []Server) string {
	counts := map[string]int{}
	for _, s := range servers {
		counts[s.Status]++
	}
	var parts []string
	for st, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, st))
	}
	sort.Strings(parts)
	return listOr(parts, "none")
}

func (x *Environments) envStatus(ctx context.Context, name string) (Message, error) {
	env, cl, err := x.cloud(ctx, name)
	if err != nil {
		return Message{}, err
	}
	servers, err := cl.Servers(ctx, name)
	if err != nil {
		return Message{}, err
	}
	sort.Slice(servers, func(i, j int) bool { return naturalLess(servers[i].Name, servers[j].Name) })
	now := x.now()
	m := Message{
		Title:   "status of " + name,
		Summary: fmt.Sprintf("%s: %d/%d servers (%s)", name, len(servers), len(env.desired()), countStates(servers)),
	}
	for _, s := range servers {
		age := "?"
		if !s.Created.IsZero() {
			age = elapsed(max(now.Sub(s.Created), 0).Truncate(time.Second))
		}
		line := fmt.Sprintf("%-24s %-7s %-10s %-18s %s old", s.Name, s.Status, s.Flavor, listOr(s.Addresses, "-"), age)
		if s.Fault != "" {
			line += " — " + s.Fault
		}
		m.Lines = append(m.Lines, line)
	}
	conv := Converge(env, servers)
	if len(conv.Create) > 0 || len(conv.Delete) > 0 {
		m.Footer = fmt.Sprintf("not as declared: %s — see `plan %s`", conv.Plan(env).Summary, name)
	}
	if len(servers) == 0 {
		m.Lines = []string{"no servers; `provision " + name + "` creates them"}
	}
	return m, nil
}
