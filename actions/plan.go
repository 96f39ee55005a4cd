package actions

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Plan is what a run will do, shown before it is done. An approval is bound
// to the plan's hash: if the plan differs when the approval comes, the
// approval is void.
type Plan struct {
	Summary string   // one line, e.g. "create 3, keep 1, delete 0"
	Lines   []string // the readable diff, one change a line
	// Deletes marks a plan that destroys something; it always needs a
	// second person's approval.
	Deletes bool
	// Empty marks a plan with nothing to do.
	Empty bool
}

// Hash identifies the plan's content.
func (p Plan) Hash() string {
	h := sha256.New()
	h.Write([]byte(p.Summary))
	h.Write([]byte{0})
	h.Write([]byte(strings.Join(p.Lines, "\n")))
	if p.Deletes {
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
