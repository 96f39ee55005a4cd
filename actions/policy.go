package actions

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Person is someone infrabot knows.
type Person struct {
	Name  string
	Roles []string
	// IDs maps a chat platform ("slack", "discord") to the person's user
	// id there.
	IDs map[string]string
}

// Role grants actions on environments. Inherited roles keep their own
// environment scope.
type Role struct {
	Name         string
	Allow        []string // action names, or "*"
	Inherit      []string
	Environments []string // nil means every environment; "*" too
}

// ApprovalRule makes matching requests wait for a second person.
type ApprovalRule struct {
	Actions      []string // or "*"
	Environments []string // or "*"; nil means every environment
	Approvers    []string // roles whose holders may approve
	Expires      time.Duration
}

// DefaultApprovalExpiry applies when a rule gives no expiry, and to
// approvals required because an action is destructive.
const DefaultApprovalExpiry = 15 * time.Minute

// Policy is who may do what: deny by default.
type Policy struct {
	people    map[string]*Person
	roles     map[string]*Role
	approvals []ApprovalRule
	// granted is every person's roles, inherited ones included, worked
	// out once: they are asked for at every command.
	granted map[*Person][]*Role
}

// NewPolicy builds a policy. Validation of names is the configuration's job.
func NewPolicy(people []*Person, roles []*Role, approvals []ApprovalRule) *Policy {
	p := &Policy{people: map[string]*Person{}, roles: map[string]*Role{}, approvals: approvals}
	for _, x := range people {
		p.people[x.Name] = x
	}
	for _, r := range roles {
		p.roles[r.Name] = r
	}
	p.granted = make(map[*Person][]*Role, len(p.people))
	for _, x := range p.people {
		p.granted[x] = p.walkGrants(x)
	}
	return p
}

// Person returns the person called name.
func (p *Policy) Person(name string) (*Person, bool) {
	x, ok := p.people[name]
	return x, ok
}

// PersonByID finds who has user id on a chat platform.
func (p *Policy) PersonByID(platform, id string) (*Person, bool) {
	if id == "" {
		return nil, false
	}
	for _, x := range p.people {
		if x.IDs[platform] == id {
			return x, true
		}
	}
	return nil, false
}

// grants returns every role person holds, inherited ones included, each
// once. The slice is shared: it must not be changed.
func (p *Policy) grants(person *Person) []*Role {
	if roles, ok := p.granted[person]; ok {
		return roles
	}
	return p.walkGrants(person)
}

// walkGrants works out grants.
func (p *Policy) walkGrants(person *Person) []*Role {
	var out []*Role
	seen := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		r, ok := p.roles[name]
		if !ok || seen[name] {
			return
		}
		seen[name] = true
		out = append(out, r)
		for _, in := range r.Inherit {
			walk(in)
		}
	}
	for _, name := range person.Roles {
		walk(name)
	}
	return out
}

// RoleNames returns the names of every role person holds, inherited ones
// included, sorted.
func (p *Policy) RoleNames(person *Person) []string {
	var names []string
	for _, r := range p.grants(person) {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return names
}

func covers(list []string, name string) bool {
	return list == nil || slices.Contains(list, "*") || slices.Contains(list, name)
}

// Permits reports whether one of person's roles allows action, on some
// environment at least: what Allowed checks first, without saying why not.
func (p *Policy) Permits(person *Person, action string) bool {
	if person == nil {
		return false
	}
	return slices.ContainsFunc(p.grants(person), func(r *Role) bool { return r.allows(action) })
}

// allows reports whether the role allows action, on some environment.
func (r *Role) allows(action string) bool {
	return slices.Contains(r.Allow, "*") || slices.Contains(r.Allow, action)
}

// Allowed returns nil when person may run action on env ("" for an action
// about no environment), and otherwise a Permission error saying why.
func (p *Policy) Allowed(person *Person, action, env string) error {
	if person == nil {
		return Errorf(Permission, "infrabot does not know you, so you may only use `help` and `whoami`; ask an admin to add you under people in the config")
	}
	var actionOK bool
	var scopes []string
	for _, r := range p.grants(person) {
		if !r.allows(action) {
			continue
		}
		actionOK = true
		if env == "" || covers(r.Environments, env) {
			return nil
		}
		scopes = append(scopes, r.Environments...)
	}
	if !actionOK {
		return Errorf(Permission, "%s may not %s: none of your roles (%s) allows it", person.Name, action, listOr(p.RoleNames(person), "none"))
	}
	slices.Sort(scopes)
	return Errorf(Permission, "%s may %s only on %s, not on %s", person.Name, action, strings.Join(slices.Compact(scopes), ", "), env)
}

// ApprovalNeeded returns the rule that makes action on env wait for a
// second person, if any. A destructive action, or a plan that deletes, is
// given a default rule when no configured rule matches: approvers are the
// roles that may approve on env.
func (p *Policy) ApprovalNeeded(action, env string, destructive bool) (ApprovalRule, bool) {
	for _, r := range p.approvals {
		if covers(r.Actions, action) && (r.Actions != nil) && covers(r.Environments, env) {
			if r.Expires == 0 {
				r.Expires = DefaultApprovalExpiry
			}
			return r, true
		}
	}
	if !destructive {
		return ApprovalRule{}, false
	}
	var approvers []string
	for name, r := range p.roles {
		if (slices.Contains(r.Allow, "approve") || slices.Contains(r.Allow, "*")) && covers(r.Environments, env) {
			approvers = append(approvers, name)
		}
	}
	sort.Strings(approvers)
	return ApprovalRule{Actions: []string{action}, Environments: []string{env}, Approvers: approvers, Expires: DefaultApprovalExpiry}, true
}

// CanApprove returns nil when person may approve (or deny) a request on env
// that names approvers, and a Permission error saying why not otherwise.
// It does not know who made the request; the engine checks that.
func (p *Policy) CanApprove(person *Person, approvers []string, env string) error {
	if person == nil {
		return Errorf(Permission, "infrabot does not know you, so you cannot approve anything")
	}
	for _, r := range p.grants(person) {
		if slices.Contains(approvers, r.Name) && covers(r.Environments, env) {
			return nil
		}
	}
	return Errorf(Permission, "only a person holding %s on %s may approve this, and %s does not", listOr(approvers, "an approver role"), env, person.Name)
}

func listOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, ", ")
}

// quote makes a free text safe to show inline.
func quote(s string) string { return fmt.Sprintf("%q", s) }
