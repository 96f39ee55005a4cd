package environments_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/environments"
)

// convEnv declares two web servers and one db server on staging.
func convEnv() environments.Environment {
	return environments.Environment{
		Name: "staging", Cloud: "sim",
		Servers: []environments.ServerDecl{
			{Name: "web", Count: 2, Flavor: "m1.small", Image: "centos-stream-9", Networks: []string{"private"}},
			{Name: "db", Count: 1, Flavor: "m1.medium", Image: "centos-stream-9", Networks: []string{"private"}},
		},
	}
}

var convT0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// srv is a server infrabot owns in staging, created n minutes after convT0.
func srv(id, name, status string, n int) actions.Server {
	return actions.Server{
		ID: id, Name: name, Status: status, Flavor: "m1.small", Image: "img",
		Created:  convT0.Add(time.Duration(n) * time.Minute),
		Metadata: map[string]string{actions.MetaManaged: "true", actions.MetaEnv: "staging"},
	}
}

func specNames(specs []actions.ServerSpec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	return out
}

func serverIDs(servers []actions.Server) []string {
	var out []string
	for _, s := range servers {
		out = append(out, s.ID)
	}
	return out
}

func TestConverge(t *testing.T) {
	t.Parallel()
	all := []actions.Server{
		srv("id-db-1", "staging-db-1", actions.StatusActive, 0),
		srv("id-web-1", "staging-web-1", actions.StatusActive, 1),
		srv("id-web-2", "staging-web-2", actions.StatusActive, 2),
	}
	with := func(extra ...actions.Server) []actions.Server { return append(slices.Clone(all), extra...) }
	errored := slices.Clone(all)
	errored[2] = srv("id-web-2", "staging-web-2", actions.StatusError, 2)
	errored[2].Fault = "No valid host was found."
	// beingDeleted is s once its delete was sent: Nova still lists it.
	beingDeleted := func(s actions.Server) actions.Server {
		s.TaskState = actions.TaskDeleting
		return s
	}

	tests := []struct {
		name                 string
		actual               []actions.Server
		create, keep, delete []string // names to create; IDs kept and deleted
		deleting             []string // IDs being deleted already
		deletes, empty       bool
		lines                []string // substrings the plan's lines must hold, in order
	}{
		{
			name:   "empty environment creates everything",
			create: []string{"staging-db-1", "staging-web-1", "staging-web-2"},
			lines: []string{
				"+ create staging-db-1 (m1.medium, centos-stream-9, private)",
				"+ create staging-web-1 (m1.small, centos-stream-9, private)",
				"+ create staging-web-2 (m1.small, centos-stream-9, private)",
			},
		},
		{
			name:   "all present keeps everything",
			actual: all,
			keep:   []string{"id-db-1", "id-web-1", "id-web-2"},
			empty:  true,
			lines:  []string{"= keep   staging-db-1", "= keep   staging-web-1", "= keep   staging-web-2", "nothing to change"},
		},
		{
			name:    "count lowered deletes the extra server",
			actual:  with(srv("id-web-3-long-uuid", "staging-web-3", actions.StatusActive, 3)),
			keep:    []string{"id-db-1", "id-web-1", "id-web-2"},
			delete:  []string{"id-web-3-long-uuid"},
			deletes: true,
			lines:   []string{"= keep   staging-web-2", "- delete staging-web-3 (id id-web-3, no longer declared)"},
		},
		{
			name:    "a server in ERROR is deleted and created again",
			actual:  errored,
			create:  []string{"staging-web-2"},
			keep:    []string{"id-db-1", "id-web-1"},
			delete:  []string{"id-web-2"},
			deletes: true,
			lines:   []string{"+ create staging-web-2", "- delete staging-web-2 (id id-web-2, in ERROR, to be created again)"},
		},
		{
			name:    "a duplicate name keeps the oldest and deletes the other",
			actual:  with(srv("web1-dup", "staging-web-1", actions.StatusActive, 9)),
			keep:    []string{"id-db-1", "id-web-1", "id-web-2"},
			delete:  []string{"web1-dup"},
			deletes: true,
			lines:   []string{"- delete staging-web-1 (id web1-dup, a duplicate)"},
		},
		{
			name:    "a duplicate listed first is still the one deleted",
			actual:  append([]actions.Server{srv("web1-dup", "staging-web-1", actions.StatusActive, 9)}, all...),
			keep:    []string{"id-db-1", "id-web-1", "id-web-2"},
			delete:  []string{"web1-dup"},
			deletes: true,
			lines:   []string{"- delete staging-web-1 (id web1-dup, a duplicate)"},
		},
		{
			name: "a healthy twin of an ERROR server is kept, nothing created",
			actual: []actions.Server{
				srv("id-db-1", "staging-db-1", actions.StatusActive, 0),
				srv("id-web-1", "staging-web-1", actions.StatusError, 1),
				srv("web1-dup", "staging-web-1", actions.StatusActive, 2),
				srv("id-web-2", "staging-web-2", actions.StatusBuild, 3),
			},
			keep:    []string{"id-db-1", "web1-dup", "id-web-2"},
			delete:  []string{"id-web-1"},
			deletes: true,
			lines:   []string{"- delete staging-web-1 (id id-web-1"},
		},
		{
			name: "servers of names never declared are deleted",
			actual: with(
				srv("id-cache-1", "staging-cache-1", actions.StatusActive, 4),
				srv("id-cache-2", "staging-cache-2", actions.StatusError, 5),
			),
			keep:    []string{"id-db-1", "id-web-1", "id-web-2"},
			delete:  []string{"id-cache-1", "id-cache-2"},
			deletes: true,
			lines: []string{
				"- delete staging-cache-1 (id id-cache, no longer declared)",
				"- delete staging-cache-2 (id id-cache, no longer declared)",
			},
		},
		{
			name: "a server being deleted is neither kept nor deleted: its name is created again",
			actual: []actions.Server{
				srv("id-db-1", "staging-db-1", actions.StatusActive, 0),
				beingDeleted(srv("id-web-1", "staging-web-1", actions.StatusActive, 1)),
				srv("id-web-2", "staging-web-2", actions.StatusActive, 2),
			},
			create:   []string{"staging-web-1"},
			keep:     []string{"id-db-1", "id-web-2"},
			deleting: []string{"id-web-1"},
			lines:    []string{"+ create staging-web-1", "~ staging-web-1 (id id-web-1) is being deleted: not counted as there"},
		},
		{
			name: "a server in ERROR being deleted is not deleted again",
			actual: with(
				beingDeleted(srv("id-web-2-err", "staging-web-2", actions.StatusError, 3)),
				beingDeleted(srv("id-cache-1", "staging-cache-1", actions.StatusActive, 4)),
			),
			keep:     []string{"id-db-1", "id-web-1", "id-web-2"},
			deleting: []string{"id-cache-1", "id-web-2-err"},
			empty:    true,
			lines: []string{"~ staging-cache-1 (id id-cache) is being deleted", "~ staging-web-2 (id id-web-2) is being deleted",
				"nothing to change: the environment is as declared once the servers being deleted are gone"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := convEnv()
			c := environments.Converge(env, tc.actual)
			if got := specNames(c.Create); !slices.Equal(got, tc.create) {
				t.Errorf("create %v, want %v", got, tc.create)
			}
			if got := serverIDs(c.Keep); !slices.Equal(got, tc.keep) {
				t.Errorf("keep %v, want %v", got, tc.keep)
			}
			if got := serverIDs(c.Delete); !slices.Equal(got, tc.delete) {
				t.Errorf("delete %v, want %v", got, tc.delete)
			}
			if got := serverIDs(c.Deleting); !slices.Equal(got, tc.deleting) {
				t.Errorf("being deleted %v, want %v", got, tc.deleting)
			}
			for _, s := range c.Create {
				if s.Metadata[actions.MetaManaged] != "true" || s.Metadata[actions.MetaEnv] != "staging" {
					t.Errorf("%s is created without ownership metadata: %v", s.Name, s.Metadata)
				}
			}
			p := c.Plan(env)
			if p.Deletes != tc.deletes || p.Empty != tc.empty {
				t.Errorf("plan deletes=%v empty=%v, want %v %v", p.Deletes, p.Empty, tc.deletes, tc.empty)
			}
			wantSummary := fmt.Sprintf("create %d, keep %d, delete %d", len(tc.create), len(tc.keep), len(tc.delete))
			if len(tc.deleting) > 0 {
				wantSummary += fmt.Sprintf(", %d being deleted", len(tc.deleting))
			}
			if p.Summary != wantSummary {
				t.Errorf("summary %q, want %q", p.Summary, wantSummary)
			}
			text := strings.Join(p.Lines, "\n")
			at := 0
			for _, want := range tc.lines {
				i := strings.Index(text[at:], want)
				if i < 0 {
					t.Errorf("plan lacks %q (after the lines before it):\n%s", want, text)
					continue
				}
				at += i + len(want)
			}
			if !tc.empty && strings.Contains(text, "nothing to change") {
				t.Errorf("a plan with changes says nothing changes:\n%s", text)
			}
		})
	}
}

func TestConvergeSpecsFollowDeclaration(t *testing.T) {
	t.Parallel()
	env := environments.Environment{Name: "prod", Servers: []environments.ServerDecl{{
		Name: "api", Count: 1, Flavor: "m1.large", Image: "cirros-0.6", Networks: []string{"private", "public"},
		KeyName: "infrabot", SecurityGroups: []string{"default", "web"},
	}}}
	c := environments.Converge(env, nil)
	if len(c.Create) != 1 {
		t.Fatalf("create %v", specNames(c.Create))
	}
	s := c.Create[0]
	if s.Name != "prod-api-1" || s.Flavor != "m1.large" || s.Image != "cirros-0.6" || s.KeyName != "infrabot" ||
		!slices.Equal(s.Networks, []string{"private", "public"}) || !slices.Equal(s.SecurityGroups, []string{"default", "web"}) {
		t.Errorf("spec does not follow the declaration: %+v", s)
	}
	if len(s.Metadata) != 2 || s.Metadata[actions.MetaManaged] != "true" || s.Metadata[actions.MetaEnv] != "prod" {
		t.Errorf("metadata %v", s.Metadata)
	}
	// The plan's item holds all of it but the metadata (which follows
	// from the environment), and its line shows it.
	p := c.Plan(env)
	it := p.Items[0]
	if it.Op != actions.OpCreate || it.Name != s.Name || it.Flavor != s.Flavor || it.Image != s.Image || it.KeyName != s.KeyName ||
		!slices.Equal(it.Networks, s.Networks) || !slices.Equal(it.SecurityGroups, s.SecurityGroups) {
		t.Errorf("create item %+v, spec %+v", it, s)
	}
	if want := "+ create prod-api-1 (m1.large, cirros-0.6, private, public; key infrabot; security groups default, web)"; p.Lines[0] != want {
		t.Errorf("line %q, want %q", p.Lines[0], want)
	}
	// Count 0 declares nothing.
	env.Servers[0].Count = 0
	if c := environments.Converge(env, nil); len(c.Create) != 0 || !c.Plan(env).Empty {
		t.Errorf("count 0 creates %v", specNames(c.Create))
	}
}

func TestConvergeNaturalOrder(t *testing.T) {
	t.Parallel()
	env := environments.Environment{Name: "x", Servers: []environments.ServerDecl{{Name: "n", Count: 12, Flavor: "f", Image: "i"}}}
	var want []string
	for i := 1; i <= 12; i++ {
		want = append(want, fmt.Sprintf("x-n-%d", i))
	}
	c := environments.Converge(env, nil)
	if got := specNames(c.Create); !slices.Equal(got, want) {
		t.Errorf("create order %v, want %v", got, want)
	}
	// Kept and deleted servers are ordered the same way, whatever the
	// cloud's order.
	var actual []actions.Server
	for _, i := range []int{10, 2, 12, 1, 11, 3} {
		actual = append(actual, actions.Server{ID: fmt.Sprint("id", i), Name: fmt.Sprintf("x-n-%d", i), Status: actions.StatusActive})
	}
	for _, i := range []int{20, 3, 100} {
		actual = append(actual, actions.Server{ID: fmt.Sprint("gone", i), Name: fmt.Sprintf("x-n-%d", i+100), Status: actions.StatusActive})
	}
	env.Servers[0].Count = 12
	c = environments.Converge(env, actual)
	var kept, deleted []string
	for _, s := range c.Keep {
		kept = append(kept, s.Name)
	}
	for _, s := range c.Delete {
		deleted = append(deleted, s.Name)
	}
	if want := []string{"x-n-1", "x-n-2", "x-n-3", "x-n-10", "x-n-11", "x-n-12"}; !slices.Equal(kept, want) {
		t.Errorf("keep order %v, want %v", kept, want)
	}
	if want := []string{"x-n-103", "x-n-120", "x-n-200"}; !slices.Equal(deleted, want) {
		t.Errorf("delete order %v, want %v", deleted, want)
	}
	p := c.Plan(env)
	if !strings.HasPrefix(p.Lines[0], "+ create x-n-4 ") || !strings.HasPrefix(p.Lines[5], "+ create x-n-9 ") {
		t.Errorf("plan lines not in natural order:\n%s", strings.Join(p.Lines, "\n"))
	}
}

func TestPlanHash(t *testing.T) {
	t.Parallel()
	env := convEnv()
	base := []actions.Server{
		srv("id-db-1", "staging-db-1", actions.StatusActive, 0),
		srv("id-web-1", "staging-web-1", actions.StatusBuild, 1),
		srv("id-web-3", "staging-web-3", actions.StatusActive, 3),
	}
	hash := func(servers []actions.Server) string { return environments.Converge(env, servers).Plan(env).Hash() }
	h := hash(base)

	// A kept server finishing its build is no change to the plan.
	active := slices.Clone(base)
	active[1].Status = actions.StatusActive
	active[1].Addresses = []string{"10.0.0.7"}
	if hash(active) != h {
		t.Error("the plan hash changed when a kept server went from BUILD to ACTIVE")
	}
	// Nor is the order the cloud lists servers in.
	if hash([]actions.Server{base[2], base[0], base[1]}) != h {
		t.Error("the plan hash depends on the order of the servers")
	}
	// A different set of deletions is.
	more := append(slices.Clone(base), srv("id-web-4", "staging-web-4", actions.StatusActive, 4))
	if hash(more) == h {
		t.Error("the plan hash did not change when one more server is to be deleted")
	}
	fewer := base[:2]
	if hash(fewer) == h {
		t.Error("the plan hash did not change when one server fewer is to be deleted")
	}
	replaced := slices.Clone(base)
	replaced[2].ID = "other-id"
	if hash(replaced) == h {
		t.Error("the plan hash did not change when a different server is to be deleted")
	}
	// A kept server going to ERROR changes the plan: it is now replaced.
	broken := slices.Clone(base)
	broken[1].Status = actions.StatusError
	if hash(broken) == h {
		t.Error("the plan hash did not change when a kept server went to ERROR")
	}

	// What a server to create (staging-web-2) is made with is part of the
	// plan: a change of any of it is another plan.
	for what, change := range map[string]func(d *environments.ServerDecl){
		"flavor":          func(d *environments.ServerDecl) { d.Flavor = "m1.large" },
		"image":           func(d *environments.ServerDecl) { d.Image = "cirros-0.6" },
		"networks":        func(d *environments.ServerDecl) { d.Networks = []string{"public"} },
		"key pair":        func(d *environments.ServerDecl) { d.KeyName = "someone-else" },
		"security groups": func(d *environments.ServerDecl) { d.SecurityGroups = []string{"wide-open"} },
	} {
		changed := convEnv()
		change(&changed.Servers[0])
		if environments.Converge(changed, base).Plan(changed).Hash() == h {
			t.Errorf("the plan hash did not change when the %s of a server to create did", what)
		}
	}

	// Duplicates: which one is deleted does not depend on the listing order.
	a := srv("id-a", "staging-web-2", actions.StatusActive, 5)
	b := srv("id-b", "staging-web-2", actions.StatusActive, 6)
	if hash(append(slices.Clone(base), a, b)) != hash(append(slices.Clone(base), b, a)) {
		t.Error("with a duplicate, the plan hash depends on the order the cloud lists servers in")
	}
	// Two servers in ERROR under one name: both deleted, in a stable order.
	a.Status, b.Status = actions.StatusError, actions.StatusError
	if hash(append(slices.Clone(base), a, b)) != hash(append(slices.Clone(base), b, a)) {
		t.Error("with two ERROR servers of one name, the plan hash depends on the listing order")
	}
}

func TestPlanNotesFlavorDrift(t *testing.T) {
	t.Parallel()
	env := convEnv()
	servers := []actions.Server{
		srv("id-db-1", "staging-db-1", actions.StatusActive, 0), // m1.small, declared m1.medium
		srv("id-web-1", "staging-web-1", actions.StatusActive, 1),
		srv("id-web-2", "staging-web-2", actions.StatusActive, 2),
	}
	p := environments.Converge(env, servers).Plan(env)
	text := strings.Join(p.Lines, "\n")
	if !strings.Contains(text, "staging-db-1 (note: flavor is m1.small, declared m1.medium; infrabot does not resize)") {
		t.Errorf("flavor drift not noted:\n%s", text)
	}
	if strings.Contains(text, "staging-web-1 (note") || !p.Empty {
		t.Errorf("a note where the flavor matches, or drift counted as a change (empty=%v):\n%s", p.Empty, text)
	}
}

func TestPlanIsItsItems(t *testing.T) {
	t.Parallel()
	env := convEnv()
	servers := []actions.Server{
		srv("0123456789abcdef-db-1", "staging-db-1", actions.StatusActive, 0),
		srv("0123456789abcdef-web-1", "staging-web-1", actions.StatusError, 1),
		srv("0123456789abcdef-web-9", "staging-web-9", actions.StatusActive, 9),
	}
	p := environments.Converge(env, servers).Plan(env)
	var deletes []string
	for _, it := range p.Items {
		if it.Op == actions.OpDelete {
			deletes = append(deletes, it.ID)
		}
	}
	// The items name what is deleted by full id, whatever the lines show.
	if !slices.Equal(deletes, []string{"0123456789abcdef-web-1", "0123456789abcdef-web-9"}) {
		t.Fatalf("delete items %v", deletes)
	}
	for _, it := range p.Items {
		if it.Op == actions.OpCreate && (it.Name == "" || it.Flavor == "" || it.Image == "") {
			t.Errorf("create item %+v lacks what is created", it)
		}
	}
	// The lines are rendered from the items.
	if !slices.Equal(p.Lines, environments.PlanLines(p.Items)) {
		t.Errorf("lines %q are not the items rendered", p.Lines)
	}
	// The hash is over the items: wording is not content.
	reworded := p
	reworded.Summary = "three things happen"
	reworded.Lines = []string{"— remove staging-web-1 —", "— remove staging-web-9 —"}
	if reworded.Hash() != p.Hash() {
		t.Error("rewording the plan's lines changed its hash: pending approvals would be void")
	}
	other := p
	other.Items = slices.Clone(p.Items)
	for i := range other.Items {
		if other.Items[i].ID == "0123456789abcdef-web-9" {
			other.Items[i].ID = "0123456789abcdef-web-X" // same short id, another server
		}
	}
	if other.Hash() == p.Hash() {
		t.Error("a plan deleting another server has the same hash")
	}
}
