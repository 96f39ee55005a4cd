package actions

import "time"

// Observer is told what the kernel does, so that the wiring can count it
// for operators (Prometheus metrics in cmd/infrabot): the kernel stays
// free of any metrics library. Every method must return quickly, must be
// safe for concurrent use, and must not call back into the engine.
//
// Labels built from what it is told are bounded: action names come from
// the catalogue, outcomes and events from the code, never from what
// people typed.
type Observer interface {
	// Command is told of every chat command once it is answered: the
	// action's name ("unknown" when the catalogue has none of that name,
	// "" when the line did not parse) and its outcome, "ok" or the Kind
	// of the error that refused it.
	Command(action string, outcome string)
	// RunEnded is told of every run that ended after it started: its
	// action, its final state and how long it ran.
	RunEnded(action string, state RunState, took time.Duration)
	// Audited is told of every audit record written, by its event
	// ("request", "approval-requested", "approved", "denied",
	// "approval-void", "expired", "withdrawn", "started", "outcome", a
	// module's own events…).
	Audited(event string)
}

// noObserver is the Observer of an engine given none.
type noObserver struct{}

func (noObserver) Command(string, string)                   {}
func (noObserver) RunEnded(string, RunState, time.Duration) {}
func (noObserver) Audited(string)                           {}

// Outcome is the outcome label of a command that err answered: "ok" for
// nil, else the error's kind with spaces as underscores ("not_found").
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	k := string(ErrorKind(err))
	out := make([]byte, len(k))
	for i := range len(k) {
		out[i] = k[i]
		if k[i] == ' ' {
			out[i] = '_'
		}
	}
	return string(out)
}
