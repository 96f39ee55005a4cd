// Package environments is the environments module: environments declared
// in config as sets of servers on an OpenStack cloud, and the commands
// that compare them with the cloud (plan, status), converge them
// (provision) and delete them (teardown). It reaches clouds through the
// kernel's actions.Cloud and everything else through its actions.Handle.
package environments

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/infrabot/infrabot/actions"
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
	DefaultParallel      = 20
)

// ServerNames returns the names of the servers env declares, sorted:
// <env>-<name>-<n>.
func (env Environment) ServerNames() []string {
	var names []string
	for name := range env.desired() {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
	return names
}

// CloudSource returns the cloud called name, connecting on first use.
type CloudSource func(ctx context.Context, name string) (actions.Cloud, error)

// Module is the environments module: the declared environments and the
// way to their clouds.
type Module struct {
	h *actions.Handle
	// envs are the declared environments by name; Reconfigure swaps the
	// whole map, and a command reads it once.
	envs   atomic.Pointer[map[string]Environment]
	clouds CloudSource
	// bootstrap, when set, prepares the servers provision creates.
	bootstrap Bootstrap
}

// Bootstrap prepares servers provision has just created, once they are
// ACTIVE: the wiring hands over the deploy module, which runs the
// environment's bootstrap steps over SSH. This module names what it
// needs and imports no other module.
type Bootstrap interface {
	// Bootstrap prepares created (servers of env, ACTIVE, with their
	// addresses), reporting in the provision run's progress p. An error
	// fails the provision.
	Bootstrap(ctx context.Context, env string, created []actions.Server, p *actions.Progress) error
}

// BootstrapWith makes provision hand the servers it creates to b.
func (x *Module) BootstrapWith(b Bootstrap) { x.bootstrap = b }

// Name is the module's name, for Engine.Module.
const Name = "environments"

// New makes the module on h: it registers plan, provision, teardown and
// status for envs, reaching their clouds through clouds.
func New(h *actions.Handle, envs []Environment, clouds CloudSource) *Module {
	x := &Module{h: h, clouds: clouds}
	x.Reconfigure(envs)
	envArg := []actions.Arg{{Name: "env", Kind: actions.ArgEnv}}
	h.Register(&actions.Action{
		Name: "plan", Summary: "what provision would change, changing nothing",
		Args: envArg,
		Query: func(ctx context.Context, req *actions.Request) (actions.Message, error) {
			p, err := x.convergePlan(ctx, req)
			if err != nil {
				return actions.Message{}, err
			}
			return actions.Message{Title: "plan for " + req.Env, Summary: fmt.Sprintf("plan for %s: %s", req.Env, p.Summary), Lines: p.Lines}, nil
		},
	})
	h.Register(&actions.Action{
		Name: "provision", Summary: "create what is declared and missing; converge the environment",
		Help: "Computes the plan, creates missing servers (a few at a time), waits until they are ACTIVE and keeps " +
			"one progress message up to date. It never deletes unless the plan says so, and a plan that deletes " +
			"always waits for a second person's approval. Running it again creates nothing new.",
		Args: envArg, Mutates: true,
		Plan:    x.convergePlan,
		Execute: x.provision,
	})
	h.Register(&actions.Action{
		Name: "teardown", Summary: "delete every server of an environment (needs approval)",
		Help: "Destructive: always waits for a second person's approval, then deletes the environment's servers " +
			"and waits until they are gone. Servers infrabot did not create are never touched.",
		Args: envArg, Mutates: true, Destructive: true,
		Plan:    x.teardownPlan,
		Execute: x.teardown,
	})
	h.Register(&actions.Action{
		Name: "status", Summary: "servers of an environment, or a line per environment",
		Args:  []actions.Arg{{Name: "env", Kind: actions.ArgEnv, Optional: true}},
		Query: x.status,
	})
	return x
}

// Reconfigure puts envs in place of the declared environments, for the
// commands that start from now on (a config reload). Runs already going
// create and delete what their plan says, waiting for a server and
// creating at once as the declaration in force when they started said.
// A request waiting for approval has its plan computed again when it is
// approved, so a declaration that changed its plan voids it rather than
// running something nobody saw.
func (x *Module) Reconfigure(envs []Environment) {
	m := make(map[string]Environment, len(envs))
	for _, env := range envs {
		if env.Timeout <= 0 {
			env.Timeout = DefaultServerTimeout
		}
		if env.Parallel <= 0 {
			env.Parallel = DefaultParallel
		}
		m[env.Name] = env
	}
	x.envs.Store(&m)
}

func (x *Module) declared() map[string]Environment { return *x.envs.Load() }

// Servers returns the names of the servers env declares, as the
// environments in force (after a reload too) declare them, and the
// servers its cloud has: what deploys, health checks and digests count.
func (x *Module) Servers(ctx context.Context, env string) (declared []string, servers []actions.Server, err error) {
	e, cl, err := x.cloud(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	servers, err = cl.Servers(ctx, env)
	return e.ServerNames(), servers, err
}

func (x *Module) cloud(ctx context.Context, env string) (Environment, actions.Cloud, error) {
	e, ok := x.declared()[env]
	if !ok {
		return Environment{}, nil, actions.Errorf(actions.NotFound, "there is no environment %q", env)
	}
	c, err := x.clouds(ctx, e.Cloud)
	if err != nil {
		return e, nil, err
	}
	return e, c, nil
}

func (x *Module) converge(ctx context.Context, envName string) (Environment, actions.Cloud, Convergence, error) {
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

func (x *Module) convergePlan(ctx context.Context, req *actions.Request) (actions.Plan, error) {
	env, cl, conv, err := x.converge(ctx, req.Env)
	if err != nil {
		return actions.Plan{}, err
	}
	if err := x.resolves(ctx, env, cl, conv); err != nil {
		return actions.Plan{}, err
	}
	if err := x.fits(ctx, env, cl, conv); err != nil {
		return actions.Plan{}, err
	}
	return conv.Plan(env), nil
}

// resolves checks, before anything is created, that the cloud has every
// flavor, image and network the servers conv would create name. When it
// lacks one, the whole plan is refused: creating the servers that can be
// and failing the others would leave the environment half made.
func (x *Module) resolves(ctx context.Context, env Environment, cl actions.Cloud, conv Convergence) error {
	if len(conv.Create) == 0 {
		return nil
	}
	err := cl.Resolve(ctx, conv.Create)
	if actions.ErrorKind(err) != actions.Invalid {
		return err
	}
	return &actions.Error{Kind: actions.Invalid, Err: err,
		Message: fmt.Sprintf("%s names what cloud %s does not have, so nothing was created: %s. Correct the declaration in the config",
			env.Name, env.Cloud, actions.ErrorMessage(err))}
}

func (x *Module) teardownPlan(ctx context.Context, req *actions.Request) (actions.Plan, error) {
	env, cl, err := x.cloud(ctx, req.Env)
	if err != nil {
		return actions.Plan{}, err
	}
	servers, err := cl.Servers(ctx, env.Name)
	if err != nil {
		return actions.Plan{}, err
	}
	sort.Slice(servers, func(i, j int) bool { return serverLess(servers[i], servers[j]) })
	p := actions.Plan{Summary: fmt.Sprintf("delete %d", len(servers)), Deletes: len(servers) > 0, Empty: len(servers) == 0}
	for _, s := range servers {
		p.Items = append(p.Items, actions.PlanItem{Op: actions.OpDelete, Name: s.Name, ID: s.ID})
	}
	p.Lines = PlanLines(p.Items)
	if p.Empty {
		p.Lines = []string{"nothing to delete: infrabot owns no server in " + env.Name}
	}
	return p, nil
}
