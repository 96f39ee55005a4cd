package environments

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// provision converges the environment. It works from the servers as they
// are now, deletes only servers the approved plan named, and creates only
// the servers the plan's items name, as they name them.
func (x *Module) provision(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
	env, cl, conv, err := x.converge(ctx, req.Env)
	if err != nil {
		return err
	}
	// Deleted is exactly what the approved plan's items name, by id, and
	// what is still to be deleted now.
	approved := plan.IDs(actions.OpDelete)
	var deletes []actions.Server
	for _, s := range conv.Delete {
		if approved[s.ID] {
			deletes = append(deletes, s)
		} else {
			p.Note(ctx, "not deleting %s: its deletion was not in the approved plan (id %s)", s.Name, s.ID)
		}
	}
	creates := approvedCreates(ctx, env, plan, conv, p)
	if len(creates) == 0 && len(deletes) == 0 {
		p.Note(ctx, "nothing to do: %s is as declared (%d servers)", env.Name, len(conv.Keep))
		return nil
	}
	var failed []string
	if err := x.deleteAll(ctx, env, cl, deletes, p); err != nil {
		return err
	}
	made := make([]actions.Server, len(creates))
	group := p.Group(ctx, actions.StepGroup{Name: "create", Total: len(creates), Done: "created", Running: "building"})
	created := forEach(ctx, env.Parallel, creates, func(ctx context.Context, spec actions.ServerSpec) error {
		i := slices.IndexFunc(creates, func(s actions.ServerSpec) bool { return s.Name == spec.Name })
		var err error
		made[i], err = x.createOne(ctx, env, cl, spec, group)
		return err
	})
	var active []actions.Server
	for i, err := range created {
		if err != nil {
			failed = append(failed, creates[i].Name)
		} else {
			active = append(active, made[i])
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The servers that came up are bootstrapped even when others failed:
	// they are there, and the next provision creates only what is missing.
	if x.bootstrap != nil && len(active) > 0 {
		if err := x.bootstrap.Bootstrap(ctx, env.Name, active, p); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		others := ""
		if len(failed) < len(creates) {
			others = " the others are ACTIVE."
		}
		return actions.Errorf(actions.Unavailable, "%d of %d servers could not be created (%s);%s Run `provision %s` again to finish",
			len(failed), len(creates), someOf(failed), others, env.Name)
	}
	p.Note(ctx, "%s is as declared: %d created, %d kept, %d deleted", env.Name, len(creates), len(conv.Keep), len(deletes))
	return nil
}

// approvedCreates is what provision creates: the servers the approved
// plan's create items name, as they name them (flavor, image, networks,
// key pair, security groups), and only those still missing now. A
// declaration reloaded since the plan changes nothing that is created.
func approvedCreates(ctx context.Context, env Environment, plan actions.Plan, conv Convergence, p *actions.Progress) []actions.ServerSpec {
	missing := map[string]bool{}
	for _, s := range conv.Create {
		missing[s.Name] = true
	}
	planned, decl := map[string]bool{}, env.desired()
	var out []actions.ServerSpec
	for _, it := range plan.Items {
		if it.Op != actions.OpCreate {
			continue
		}
		planned[it.Name] = true
		switch _, declared := decl[it.Name]; {
		case missing[it.Name]:
			out = append(out, createSpec(env.Name, it))
		case !declared:
			p.Note(ctx, "not creating %s: it is no longer declared", it.Name)
		default:
			p.Note(ctx, "not creating %s: it is there now", it.Name)
		}
	}
	for _, s := range conv.Create {
		if !planned[s.Name] {
			p.Note(ctx, "not creating %s: its creation was not in the approved plan", s.Name)
		}
	}
	return out
}

// sendTimeout bounds a create or delete request once it is being sent:
// a cancel does not cut it short, so that whether it reached the cloud is
// known, and the step can say what the cloud does.
const sendTimeout = 2 * time.Minute

// send calls fn unless ctx is already done (then nothing is sent and
// ctx's error is returned); once begun, fn runs to its end whatever
// happens to ctx.
func send(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	return fn(sctx)
}

// createOne creates a server and waits for it. A server that goes to
// ERROR is deleted again, so that a failed run leaves nothing half-made.
// A cancel stops only a create not yet sent: one that was sent goes on at
// the cloud, and the step says "creating".
func (x *Module) createOne(ctx context.Context, env Environment, cl actions.Cloud, spec actions.ServerSpec, g *actions.StepGroupHandle) (actions.Server, error) {
	step := g.Step(ctx, "create "+spec.Name)
	var s actions.Server
	err := send(ctx, func(sctx context.Context) error {
		var err error
		s, err = cl.Create(sctx, spec)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			x.h.Log().WarnContext(ctx, "creating a server failed", "env", env.Name, "server", spec.Name, "err", err)
		}
		step.Fail(ctx, err)
		return s, err
	}
	wctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	up, err := cl.WaitActive(wctx, s.ID, func(s actions.Server) {
		step.Detail(ctx, "%s", s.Status)
	})
	if err != nil && ctx.Err() != nil {
		step.Ongoing(ctx, "creating (id %s): asked before the cancel, the cloud goes on building it", s.ID)
		return s, ctx.Err()
	}
	if err != nil {
		step.Detail(ctx, "%s Deleting it.", sentence(actions.ErrorMessage(err)))
		step.Fail(ctx, x.removeFailed(ctx, env, cl, s.ID, err))
		return s, err
	}
	step.Done(ctx, "ACTIVE")
	return up, nil
}

// removeFailed deletes a server this run created that did not become
// ACTIVE (failing with cause), so the environment holds nothing
// half-made, and waits until it is gone: until then Nova still lists it
// (and counts it against quota), and the next plan would see it in ERROR
// and ask to delete it again. It returns cause with what became of the
// server, for its step: one line per server, however many fail. The step
// shows only the messages; the causes themselves, which an internal
// error's message points at, go to the log.
func (x *Module) removeFailed(ctx context.Context, env Environment, cl actions.Cloud, id string, cause error) error {
	log := x.h.Log().With("env", env.Name, "id", id)
	log.WarnContext(ctx, "a new server did not become ACTIVE; deleting it", "err", cause)
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), env.Timeout)
	defer dcancel()
	err := cl.Delete(dctx, id)
	if err == nil {
		err = cl.WaitGone(dctx, id)
	}
	if err != nil {
		log.WarnContext(ctx, "cannot delete a new server that did not become ACTIVE", "err", err)
		return &actions.Error{Kind: actions.ErrorKind(cause), Err: cause,
			Message: fmt.Sprintf("%s Could not delete it (id %s): %s", sentence(actions.ErrorMessage(cause)), id, actions.ErrorMessage(err))}
	}
	return &actions.Error{Kind: actions.ErrorKind(cause), Err: cause,
		Message: fmt.Sprintf("%s Deleted it again.", sentence(actions.ErrorMessage(cause)))}
}

// sentence ends s with a full stop unless it already ends a sentence.
func sentence(s string) string {
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}

// namedAtMost is how many names an error message lists; the others are
// counted.
const namedAtMost = 10

// someOf lists names, the first namedAtMost of them and how many more.
func someOf(names []string) string {
	if len(names) <= namedAtMost {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:namedAtMost], ", "), len(names)-namedAtMost)
}

// goneGrace is how long a cancelled run still looks whether a server it
// asked to delete is gone, to say "gone" rather than "deleting".
const goneGrace = time.Second

func (x *Module) deleteAll(ctx context.Context, env Environment, cl actions.Cloud, servers []actions.Server, p *actions.Progress) error {
	if len(servers) == 0 {
		return nil
	}
	deletes := p.Group(ctx, actions.StepGroup{Name: "delete", Total: len(servers), Done: "deleted", Running: "deleting"})
	errs := forEach(ctx, env.Parallel, servers, func(ctx context.Context, s actions.Server) error {
		step := deletes.Step(ctx, "delete "+s.Name)
		if err := send(ctx, func(sctx context.Context) error { return cl.Delete(sctx, s.ID) }); err != nil {
			step.Fail(ctx, err)
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, env.Timeout)
		defer cancel()
		err := cl.WaitGone(wctx, s.ID)
		if err != nil && ctx.Err() != nil {
			// Cancelled after the delete was sent: the cloud deletes it
			// regardless. Say which it is now.
			gctx, gcancel := context.WithTimeout(context.WithoutCancel(ctx), goneGrace)
			defer gcancel()
			if cl.WaitGone(gctx, s.ID) == nil {
				step.Done(ctx, "gone")
			} else {
				step.Ongoing(ctx, "deleting: asked before the cancel, the cloud goes on deleting it")
			}
			return ctx.Err()
		}
		if err != nil {
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
		return actions.Errorf(actions.Unavailable, "%d of %d servers could not be deleted (%s); run the command again to finish", len(failed), len(servers), someOf(failed))
	}
	return nil
}

func (x *Module) teardown(ctx context.Context, req *actions.Request, plan actions.Plan, p *actions.Progress) error {
	env, cl, err := x.cloud(ctx, req.Env)
	if err != nil {
		return err
	}
	servers, err := cl.Servers(ctx, env.Name)
	if err != nil {
		return err
	}
	approved := plan.IDs(actions.OpDelete)
	var deletes []actions.Server
	for _, s := range servers {
		if approved[s.ID] {
			deletes = append(deletes, s)
		} else {
			p.Note(ctx, "not deleting %s: it is not a server the approved teardown named (id %s)", s.Name, s.ID)
		}
	}
	if err := x.deleteAll(ctx, env, cl, deletes, p); err != nil {
		return err
	}
	p.Note(ctx, "%s torn down: %d servers deleted", env.Name, len(deletes))
	return nil
}

// forEach calls fn for every item, at most parallel at once, and returns
// the errors in the items' order. Once ctx ends no item starts: each
// left gets ctx's error.
func forEach[T any](ctx context.Context, parallel int, items []T, fn func(context.Context, T) error) []error {
	errs := make([]error, len(items))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, item := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		// A slot freed by an item that ended because ctx did is no reason
		// to start the next one: select picks either when both are ready.
		if err := ctx.Err(); err != nil {
			errs[i] = err
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
