package actions

import "testing"

// Permits answers what Allowed answers for an action on no environment,
// inherited roles and environment scopes included.
func TestPermitsAgreesWithAllowed(t *testing.T) {
	roles := []*Role{
		{Name: "viewer", Allow: []string{"status", "whoami"}},
		{Name: "operator", Allow: []string{"deploy"}, Inherit: []string{"viewer"}, Environments: []string{"staging"}},
		{Name: "admin", Allow: []string{"*"}},
	}
	alice := &Person{Name: "alice", Roles: []string{"operator"}}
	carol := &Person{Name: "carol", Roles: []string{"admin"}}
	nobody := &Person{Name: "nobody"}
	p := NewPolicy([]*Person{alice, carol, nobody}, roles, nil)
	for _, tc := range []struct {
		person *Person
		action string
		want   bool
	}{
		{alice, "deploy", true}, // on staging only, but on some environment
		{alice, "status", true}, // inherited
		{alice, "teardown", false},
		{carol, "teardown", true},
		{nobody, "status", false},
		{nil, "status", false},
	} {
		if got := p.Permits(tc.person, tc.action); got != tc.want {
			t.Errorf("Permits(%v, %s) = %v, want %v", tc.person, tc.action, got, tc.want)
		}
		if tc.person != nil {
			if allowed := p.Allowed(tc.person, tc.action, "") == nil; allowed != tc.want {
				t.Errorf("Allowed(%s, %s) = %v, Permits says %v", tc.person.Name, tc.action, allowed, tc.want)
			}
		}
	}
}
