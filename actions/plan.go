package actions

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// Plan is what a run will do, shown before it is done. A plan is its
// items: structured changes, from which its lines are rendered and over
// which its hash is taken, and which execution carries out exactly. An
// approval is bound to the plan's hash: if the items differ when the
// approval comes, the approval is void; rewording how a plan is shown
// changes nothing.
type Plan struct {
	Summary string     // one line, e.g. "create 3, keep 1, delete 0"
	Items   []PlanItem `json:",omitempty"`
	Lines   []string   // for people: rendered from Items, or free text for an action without items
	// Deletes marks a plan that destroys something; it always needs a
	// second person's approval.
	Deletes bool
	// Empty marks a plan with nothing to do.
	Empty bool
}

// Plan item operations.
const (
	OpCreate = "create"
	OpKeep   = "keep"
	OpDelete = "delete"
	// OpRun is a command run on a server (a deploy step), named by
	// Command.
	OpRun = "run"
)

// PlanItem is one change of a plan, on one server (or a command run on
// it). Nothing in it changes
// on its own (a server's state is not in it), so that a plan's hash
// changes only when the change it describes does.
type PlanItem struct {
	Op       string   `json:"op"`           // OpCreate, OpKeep, OpDelete, OpRun
	Name     string   `json:"name"`         // the server's name
	ID       string   `json:"id,omitempty"` // the server's id, for keep and delete
	Flavor   string   `json:"flavor,omitempty"`
	Image    string   `json:"image,omitempty"`
	Networks []string `json:"networks,omitempty"`
	// KeyName and SecurityGroups, for OpCreate, are the new server's key
	// pair and security groups: what it is created with is what an
	// approval is bound to.
	KeyName        string   `json:"key_name,omitempty"`
	SecurityGroups []string `json:"security_groups,omitempty"`
	// Command, for OpRun, is the command line as it will run, with its
	// parameters' values: an approval is bound to it.
	Command string `json:"command,omitempty"`
	// Reason says why, e.g. "no longer declared" for a delete, or a note
	// on a kept server.
	Reason string `json:"reason,omitempty"`
}

// Hash identifies the plan's content: its items (and whether it deletes).
// A plan without items, of an action that describes its work in free
// text, is identified by its summary and lines.
func (p Plan) Hash() string {
	h := sha256.New()
	if len(p.Items) > 0 {
		h.Write([]byte("items\x00"))
		b, err := json.Marshal(p.Items)
		if err != nil {
			panic(err) // strings and slices of strings always marshal
		}
		h.Write(b)
	} else {
		h.Write([]byte(p.Summary))
		h.Write([]byte{0})
		h.Write([]byte(strings.Join(p.Lines, "\n")))
	}
	if p.Deletes {
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// IDs returns the ids of the plan's items with operation op: for
// OpDelete, exactly what an approval of the plan allows to be deleted.
func (p Plan) IDs(op string) map[string]bool {
	out := map[string]bool{}
	for _, it := range p.Items {
		if it.Op == op && it.ID != "" {
			out[it.ID] = true
		}
	}
	return out
}
