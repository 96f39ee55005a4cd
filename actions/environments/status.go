package environments

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/infrabot/infrabot/actions"
)

func (x *Module) status(ctx context.Context, req *actions.Request) (actions.Message, error) {
	if req.Env != "" {
		return x.envStatus(ctx, req.Env)
	}
	envs := x.declared()
	names := make([]string, 0, len(envs))
	for n := range envs {
		names = append(names, n)
	}
	sort.Strings(names)
	m := actions.Message{Title: "environments", Summary: fmt.Sprintf("%d environments", len(names))}
	if len(names) == 1 {
		m.Summary = "1 environment"
	}
	for _, n := range names {
		env := envs[n]
		declared := len(env.desired())
		act, err := x.h.Activity(ctx, n)
		if err != nil {
			return actions.Message{}, err
		}
		_, cl, err := x.cloud(ctx, n)
		var servers []actions.Server
		if err == nil {
			servers, err = cl.Servers(ctx, n)
		}
		if err != nil {
			m.Lines = append(m.Lines, fmt.Sprintf("%-12s cloud %s: %s%s", n, env.Cloud, actions.ErrorMessage(err), activityBrief(act, x.h.Now())))
			continue
		}
		m.Lines = append(m.Lines, fmt.Sprintf("%-12s %d/%d servers (%s) on %s%s", n, present(servers), declared, countStates(servers), env.Cloud, activityBrief(act, x.h.Now())))
	}
	return m, nil
}

// activityFields says what holds an environment, for its status: a
// person's lock (who, why, since when), the running run, and the requests
// awaiting approval.
func activityFields(a actions.EnvironmentActivity, now time.Time) []actions.Field {
	var out []actions.Field
	ago := func(t time.Time) string { return actions.Elapsed(max(now.Sub(t), 0).Truncate(time.Second)) }
	if l := a.Lock; l != nil && l.Manual {
		v := l.Person
		if l.Reason != "" {
			v += fmt.Sprintf(" (%q)", l.Reason)
		}
		v += fmt.Sprintf(" since %s (%s ago)", l.Since.UTC().Format("2006-01-02 15:04 UTC"), ago(l.Since))
		out = append(out, actions.Field{Label: "locked by", Value: v})
	}
	for _, r := range a.Running {
		out = append(out, actions.Field{Label: "running", Value: fmt.Sprintf("run %d `%s` by %s, for %s", r.ID, r.Command, r.Person, ago(r.Started))})
	}
	for _, r := range pending(a, now) {
		out = append(out, actions.Field{Label: "awaiting approval", Value: fmt.Sprintf("request %d `%s` by %s, expires in %s",
			r.ID, r.Command, r.Person, actions.Elapsed(r.Approval.Expires.Sub(now).Truncate(time.Second)))})
	}
	return out
}

// activityBrief says the same in a few words, for a line of the overview.
func activityBrief(a actions.EnvironmentActivity, now time.Time) string {
	s := ""
	if a.Lock != nil && a.Lock.Manual {
		s += "; locked by " + a.Lock.Person
	}
	for _, r := range a.Running {
		s += fmt.Sprintf("; run %d running", r.ID)
	}
	switch n := len(pending(a, now)); {
	case n == 1:
		s += "; 1 request awaiting approval"
	case n > 1:
		s += fmt.Sprintf("; %d requests awaiting approval", n)
	}
	return s
}

// pending returns the requests still open at now, oldest first: one past
// its expiry is closed by the next sweep.
func pending(a actions.EnvironmentActivity, now time.Time) []*actions.Run {
	var out []*actions.Run
	for _, r := range a.Pending {
		if r.Approval != nil && now.Before(r.Approval.Expires) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// state is a server's state as status shows it: Nova's status, or
// "deleting" once its delete was sent.
func state(s actions.Server) string {
	if s.TaskState == actions.TaskDeleting {
		return "deleting"
	}
	return s.Status
}

// present counts the servers that are there to stay: not being deleted.
func present(servers []actions.Server) int {
	n := 0
	for _, s := range servers {
		if s.TaskState != actions.TaskDeleting {
			n++
		}
	}
	return n
}

func countStates(servers []actions.Server) string {
	counts := map[string]int{}
	for _, s := range servers {
		counts[state(s)]++
	}
	var parts []string
	for st, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, st))
	}
	sort.Strings(parts)
	return actions.ListOr(parts, "none")
}

func (x *Module) envStatus(ctx context.Context, name string) (actions.Message, error) {
	env, cl, err := x.cloud(ctx, name)
	if err != nil {
		return actions.Message{}, err
	}
	servers, err := cl.Servers(ctx, name)
	if err != nil {
		return actions.Message{}, err
	}
	sort.Slice(servers, func(i, j int) bool { return naturalLess(servers[i].Name, servers[j].Name) })
	act, err := x.h.Activity(ctx, name)
	if err != nil {
		return actions.Message{}, err
	}
	now := x.h.Now()
	m := actions.Message{
		Title:   "status of " + name,
		Summary: fmt.Sprintf("%s: %d/%d servers (%s)", name, present(servers), len(env.desired()), countStates(servers)),
		Fields:  activityFields(act, now),
	}
	for _, s := range servers {
		age := "?"
		if !s.Created.IsZero() {
			age = actions.Elapsed(max(now.Sub(s.Created), 0).Truncate(time.Second))
		}
		line := fmt.Sprintf("%-24s %-7s %-10s %-18s %s old", s.Name, state(s), s.Flavor, actions.ListOr(s.Addresses, "-"), age)
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
