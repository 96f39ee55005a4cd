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
	names := make([]string, 0, len(x.envs))
	for n := range x.envs {
		names = append(names, n)
	}
	sort.Strings(names)
	m := actions.Message{Title: "environments", Summary: fmt.Sprintf("%d environments", len(names))}
	for _, n := range names {
		env := x.envs[n]
		declared := len(env.desired())
		_, cl, err := x.cloud(ctx, n)
		var servers []actions.Server
		if err == nil {
			servers, err = cl.Servers(ctx, n)
		}
		if err != nil {
			m.Lines = append(m.Lines, fmt.Sprintf("%-12s cloud %s: %s", n, env.Cloud, actions.ErrorMessage(err)))
			continue
		}
		m.Lines = append(m.Lines, fmt.Sprintf("%-12s %d/%d servers (%s) on %s", n, len(servers), declared, countStates(servers), env.Cloud))
	}
	return m, nil
}

func countStates(servers []actions.Server) string {
	counts := map[string]int{}
	for _, s := range servers {
		counts[s.Status]++
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
	now := x.h.Now()
	m := actions.Message{
		Title:   "status of " + name,
		Summary: fmt.Sprintf("%s: %d/%d servers (%s)", name, len(servers), len(env.desired()), countStates(servers)),
	}
	for _, s := range servers {
		age := "?"
		if !s.Created.IsZero() {
			age = actions.Elapsed(max(now.Sub(s.Created), 0).Truncate(time.Second))
		}
		line := fmt.Sprintf("%-24s %-7s %-10s %-18s %s old", s.Name, s.Status, s.Flavor, actions.ListOr(s.Addresses, "-"), age)
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
