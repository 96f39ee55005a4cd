package environments

import (
	"fmt"
	"sort"
	"strings"

	"github.com/infrabot/infrabot/actions"
)

// desired lists the servers env declares, by name.
func (env Environment) desired() map[string]actions.ServerSpec {
	out := map[string]actions.ServerSpec{}
	for _, d := range env.Servers {
		for n := 1; n <= d.Count; n++ {
			name := fmt.Sprintf("%s-%s-%d", env.Name, d.Name, n)
			out[name] = actions.ServerSpec{
				Name: name, Flavor: d.Flavor, Image: d.Image,
				Networks: d.Networks, KeyName: d.KeyName, SecurityGroups: d.SecurityGroups,
				Metadata: ownedBy(env.Name),
			}
		}
	}
	return out
}

// ownedBy is the metadata that marks a server as infrabot's, in env.
func ownedBy(env string) map[string]string {
	return map[string]string{actions.MetaManaged: "true", actions.MetaEnv: env}
}

// createItem is the plan item that creates spec. It holds every field of
// the spec that changes what is created, so that the plan's hash covers
// it; the metadata is not in it, as it follows from the environment.
func createItem(s actions.ServerSpec) actions.PlanItem {
	return actions.PlanItem{Op: actions.OpCreate, Name: s.Name, Flavor: s.Flavor, Image: s.Image,
		Networks: s.Networks, KeyName: s.KeyName, SecurityGroups: s.SecurityGroups}
}

// createSpec is what create item it of env asks the cloud for.
func createSpec(env string, it actions.PlanItem) actions.ServerSpec {
	return actions.ServerSpec{Name: it.Name, Flavor: it.Flavor, Image: it.Image,
		Networks: it.Networks, KeyName: it.KeyName, SecurityGroups: it.SecurityGroups,
		Metadata: ownedBy(env)}
}

// Convergence is what it takes to bring an environment to its declaration.
type Convergence struct {
	Create []actions.ServerSpec
	Keep   []actions.Server
	Delete []actions.Server
	// Deleting are the servers whose delete was already sent: Nova still
	// lists them, but they are going. They are neither kept nor deleted
	// again, and a declared name that only they hold is created again.
	Deleting []actions.Server
}

// Converge compares what env declares with the servers infrabot owns in
// it. A server in ERROR is replaced: deleted, then created again. A
// server being deleted does not count as there.
func Converge(env Environment, actual []actions.Server) Convergence {
	want := env.desired()
	var c Convergence
	byName := map[string][]actions.Server{}
	for _, s := range actual {
		if s.TaskState == actions.TaskDeleting {
			c.Deleting = append(c.Deleting, s)
			continue
		}
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
			if s.Status != actions.StatusError && !healthy {
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
	sort.Slice(c.Deleting, func(i, j int) bool { return serverLess(c.Deleting[i], c.Deleting[j]) })
	return c
}

// serverLess orders servers by name, naturally, then by ID.
func serverLess(a, b actions.Server) bool {
	if naturalLess(a.Name, b.Name) {
		return true
	}
	if naturalLess(b.Name, a.Name) {
		return false
	}
	return a.ID < b.ID
}

// Plan is the convergence as a plan: an item per server to create, keep
// or delete, and its lines rendered from them. The servers being deleted
// are no change of the plan's, so not items: a line each says they are
// going.
func (c Convergence) Plan(env Environment) actions.Plan {
	p := actions.Plan{
		Summary: fmt.Sprintf("create %d, keep %d, delete %d", len(c.Create), len(c.Keep), len(c.Delete)),
		Deletes: len(c.Delete) > 0,
		Empty:   len(c.Create) == 0 && len(c.Delete) == 0,
	}
	if len(c.Deleting) > 0 {
		p.Summary += fmt.Sprintf(", %d being deleted", len(c.Deleting))
	}
	decl := env.desired()
	for _, s := range c.Create {
		p.Items = append(p.Items, createItem(s))
	}
	for _, s := range c.Keep {
		it := actions.PlanItem{Op: actions.OpKeep, Name: s.Name, ID: s.ID}
		if spec, ok := decl[s.Name]; ok && s.Flavor != "" && spec.Flavor != s.Flavor {
			it.Reason = fmt.Sprintf("note: flavor is %s, declared %s; infrabot does not resize", s.Flavor, spec.Flavor)
		}
		p.Items = append(p.Items, it)
	}
	for _, s := range c.Delete {
		why := "no longer declared"
		if _, ok := decl[s.Name]; ok {
			why = "in ERROR, to be created again"
			if s.Status != actions.StatusError {
				why = "a duplicate"
			}
		}
		p.Items = append(p.Items, actions.PlanItem{Op: actions.OpDelete, Name: s.Name, ID: s.ID, Reason: why})
	}
	p.Lines = PlanLines(p.Items)
	for _, s := range c.Deleting {
		p.Lines = append(p.Lines, fmt.Sprintf("~ %s (id %s) is being deleted: not counted as there", s.Name, shortID(s.ID)))
	}
	switch {
	case p.Empty && len(c.Deleting) > 0:
		p.Lines = append(p.Lines, "nothing to change: the environment is as declared once the servers being deleted are gone")
	case p.Empty:
		p.Lines = append(p.Lines, "nothing to change: the environment is as declared")
	}
	return p
}

// PlanLines renders plan items for people, one line each. Only people
// read them: execution works from the items.
func PlanLines(items []actions.PlanItem) []string {
	lines := make([]string, 0, len(items))
	for _, it := range items {
		var line string
		switch it.Op {
		case actions.OpCreate:
			line = fmt.Sprintf("+ create %s (%s, %s, %s", it.Name, it.Flavor, it.Image, actions.ListOr(it.Networks, "default network"))
			if it.KeyName != "" {
				line += "; key " + it.KeyName
			}
			if len(it.SecurityGroups) > 0 {
				line += "; security groups " + strings.Join(it.SecurityGroups, ", ")
			}
			line += ")"
		case actions.OpKeep:
			line = "= keep   " + it.Name
		case actions.OpDelete:
			line = fmt.Sprintf("- delete %s (id %s", it.Name, shortID(it.ID))
			if it.Reason != "" {
				line += ", " + it.Reason
			}
			line += ")"
		default:
			line = it.Op + " " + it.Name
		}
		if it.Op != actions.OpDelete && it.Reason != "" {
			line += " (" + it.Reason + ")"
		}
		lines = append(lines, line)
	}
	return lines
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// naturalLess orders "a-2" before "a-10".
func naturalLess(a, b string) bool { return actions.NaturalLess(a, b) }
