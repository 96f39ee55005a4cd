package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// warnings finds what loads but will not work as meant.
func (v *validator) warnings(c *Config) Problems {
	var out Problems
	for i, rule := range c.Approvals {
		if stuck := unmeetable(c, rule); len(stuck) > 0 {
			out = append(out, Problem{File: v.file, Line: v.line("approvals", strconv.Itoa(i)), Message: fmt.Sprintf(
				"approval rule %d can never be met for %s: nobody else holds %s there to approve (add a second person with that role, or change the rule)",
				i+1, strings.Join(stuck, "; "), orList(rule.Approvers))})
		}
	}
	return out
}

// unmeetable returns "PERSON on ENV, ENV" for every person who may make a
// request the rule holds for approval, on an environment where no other
// person may approve it: the two-person rule would hold it forever.
func unmeetable(c *Config, rule ApprovalRule) []string {
	envs := rule.Environments
	if len(envs) == 0 || slices.Contains(envs, "*") {
		envs = slices.Sorted(maps.Keys(c.Environments))
	}
	var out []string
	for _, person := range slices.Sorted(maps.Keys(c.People)) {
		var where []string
		for _, env := range envs {
			if !mayRequest(c, person, rule.Actions, env) {
				continue
			}
			approvable := false
			for other := range c.People {
				if other != person && mayApprove(c, other, rule.Approvers, env) {
					approvable = true
					break
				}
			}
			if !approvable {
				where = append(where, env)
			}
		}
		if len(where) > 0 {
			out = append(out, person+" on "+strings.Join(where, ", "))
		}
	}
	return out
}

// granted returns every role person holds, inherited ones included.
func granted(c *Config, person string) []string {
	var out []string
	var walk func(string)
	walk = func(name string) {
		if slices.Contains(out, name) {
			return
		}
		r, ok := c.Roles[name]
		if !ok {
			return
		}
		out = append(out, name)
		for _, in := range r.Inherit {
			walk(in)
		}
	}
	for _, r := range c.People[person].Roles {
		walk(r)
	}
	return out
}

func coversEnv(list []string, env string) bool {
	return len(list) == 0 || slices.Contains(list, "*") || slices.Contains(list, env)
}

// mayRequest reports whether person may use one of actions on env.
func mayRequest(c *Config, person string, actions []string, env string) bool {
	for _, name := range granted(c, person) {
		r := c.Roles[name]
		if !coversEnv(r.Environments, env) {
			continue
		}
		for _, a := range actions {
			if a == "*" || slices.Contains(r.Allow, "*") || slices.Contains(r.Allow, a) {
				return true
			}
		}
	}
	return false
}

// mayApprove reports whether person may use approve on env and holds one
// of the approver roles there.
func mayApprove(c *Config, person string, approvers []string, env string) bool {
	if !mayRequest(c, person, []string{"approve"}, env) {
		return false
	}
	for _, name := range granted(c, person) {
		if slices.Contains(approvers, name) && coversEnv(c.Roles[name].Environments, env) {
			return true
		}
	}
	return false
}

// orList writes names as people do: "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
