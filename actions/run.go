package actions

import (
	"context"
	"time"
)

// RunState is where a run is in its life.
type RunState string

// Run states. A run ends in one of the states for which Done is true.
const (
	AwaitingApproval RunState = "awaiting-approval"
	Running          RunState = "running"
	Succeeded        RunState = "succeeded"
	Failed           RunState = "failed"
	Cancelled        RunState = "cancelled"
	Interrupted      RunState = "interrupted"
	Denied           RunState = "denied"
	Expired          RunState = "expired"
	// Ongoing is a step's outcome when the remote system goes on with what
	// the step asked after the run ended: a delete or a create sent before
	// a cancel. It is not cancelled: the cloud is doing it.
	Ongoing RunState = "ongoing"
)

// Done reports whether the state is final.
func (s RunState) Done() bool { return s != AwaitingApproval && s != Running }

// Run is one carrying-out of an action, from request to outcome.
type Run struct {
	ID      int64
	Action  string
	Env     string
	Command string // the request as understood, e.g. "teardown staging"
	Args    map[string]string
	Flags   map[string]string
	Person  string
	Origin  Origin
	State   RunState
	Error   string // why it failed, for people

	Created  time.Time
	Started  time.Time
	Finished time.Time

	Plan     Plan
	Approval *Approval

	// Steps and Output are the run's progress, folded from its event log
	// (see RunEvent) by Engine.Run: the store keeps them apart from the
	// run's record, which holds its state only. Output holds the latest
	// lines; OutputOmitted counts the earlier ones not shown.
	Steps         []Step   `json:",omitempty"`
	Output        []string `json:",omitempty"`
	OutputOmitted int      `json:",omitempty"`
	// Groups are the run's groups of like steps (see StepGroup), folded
	// from its event log like Steps.
	Groups []StepGroup `json:",omitempty"`

	// Progress is the live message showing the run, once posted.
	Progress *MessageRef
}

// Step is one timed part of a run.
type Step struct {
	Name     string
	State    RunState // Running, Succeeded or Failed
	Detail   string
	Started  time.Time
	Finished time.Time

	// Latest are the step's latest lines of output (StepHandle.Output),
	// for its live message, and Lines counts all it printed. Both are
	// folded from the run's event log, not stored with the step.
	Latest []string `json:"-"`
	Lines  int      `json:"-"`
	// Group is the name of the StepGroup the step belongs to, if any.
	Group string `json:",omitempty"`
}

// ApprovalState is where an approval request is.
type ApprovalState string

// Approval states.
const (
	ApprovalPending  ApprovalState = "pending"
	ApprovalApproved ApprovalState = "approved"
	ApprovalDenied   ApprovalState = "denied"
	ApprovalExpired  ApprovalState = "expired"
	ApprovalVoid     ApprovalState = "void" // the plan changed, or the request was cancelled
)

// Approval is a request for a second person's approval, bound to the plan
// that was shown by its hash. Its id is its run's id.
type Approval struct {
	State     ApprovalState
	Approvers []string // roles that may approve
	PlanHash  string
	Expires   time.Time
	DecidedBy string
	DecidedAt time.Time
	Reason    string
	// Messages are the copies of the request message with its buttons:
	// one in the channel it was typed in, or one per platform in the
	// approvals channel. Deciding updates every copy.
	Messages []MessageRef `json:",omitempty"`
	// Notice is the requester's one-line copy, where they typed the
	// request, when the request itself went to the approvals channel.
	Notice *MessageRef `json:",omitempty"`
}

// RunEvent is one entry of a run's progress log: a step that began or
// changed, or a line of output. A run's events are only ever appended.
type RunEvent struct {
	Seq  uint64    `json:"seq"` // given by the store, from 1 in each run
	Time time.Time `json:"time"`
	// Step, for a step event, is step number Index (from 0) as it is now.
	Step  *Step `json:"step,omitempty"`
	Index int   `json:"index,omitempty"`
	// Note, for a line of output, is the line.
	Note string `json:"note,omitempty"`
	// Lines, for a step's output (StepHandle.Output), are lines step
	// number Index printed, in order: one event per batch.
	Lines []string `json:"lines,omitempty"`
	// Cut, for a step's output, counts the lines step number Index
	// printed here that the log did not keep: a step keeps its first and
	// last lines (Options.StepOutputHead, StepOutputTail).
	Cut int `json:"cut,omitempty"`
	// Group, for a group event, declares a group of like steps, or adds
	// to the total of the group of that name.
	Group *StepGroup `json:"group,omitempty"`
}

// RunFilter selects runs; zero values select everything.
type RunFilter struct {
	Env    string
	States []RunState
	Limit  int
}

// RunStore keeps runs. UpdateRun applies fn atomically: concurrent
// updates of one run are serialised, and an error from fn leaves the run
// as it was. It is how "exactly once" is made. fn may be run more than
// once (writes share transactions): it must only change the run it is given.
type RunStore interface {
	CreateRun(ctx context.Context, r *Run) error // assigns r.ID
	UpdateRun(ctx context.Context, id int64, fn func(*Run) error) (*Run, error)
	Run(ctx context.Context, id int64) (*Run, error) // NotFound when absent
	Runs(ctx context.Context, f RunFilter) ([]*Run, error)

	// AppendRunEvents adds events, in order, to the end of run id's
	// progress log and gives them their Seq. Its cost does not depend on
	// how many events the run already has. NotFound when the run is absent.
	AppendRunEvents(ctx context.Context, id int64, events ...RunEvent) error
	// RunEvents returns run id's events with Seq above after, oldest
	// first, at most limit of them (0: all).
	RunEvents(ctx context.Context, id int64, after uint64, limit int) ([]RunEvent, error)
}

// Lock keeps others from changing an environment. A person's lock
// (Manual) lets only that person start runs; a run's lock (RunID) keeps
// every other run out until it ends. One record can be both.
type Lock struct {
	Env    string
	Person string
	Reason string
	Since  time.Time
	Manual bool
	RunID  int64
}

// LockStore keeps locks. UpdateLock applies fn atomically to the lock of
// env (nil when there is none); fn returns the new lock, or nil to remove
// it. An error from fn changes nothing.
type LockStore interface {
	UpdateLock(ctx context.Context, env string, fn func(*Lock) (*Lock, error)) (*Lock, error)
	Locks(ctx context.Context) ([]Lock, error)
}
