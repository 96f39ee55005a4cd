package actions

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Settings are the parts of the engine's configuration that a reload
// (SIGHUP) may change while infrabot runs: who is who, what roles allow,
// which requests wait for approval, the environments and the channels.
//
// The engine holds one Settings value at a time and swaps it whole
// (Reconfigure). A command reads the value once when it starts, so that
// its authorisation and its approval rule come from the same config;
// runs already going and requests already waiting are records in the
// store, untouched by a swap. A Settings value is never changed once it
// is given to the engine.
type Settings struct {
	Policy *Policy
	// Environments are the names of the declared environments.
	Environments []string
	// Channels are the named channels notifications go to.
	Channels Channels
	// ApprovalsChannel names the channel where approval requests typed in
	// a direct message or the console are posted.
	ApprovalsChannel string
}

func (s Settings) normalised() *Settings {
	s.Environments = slices.Clone(s.Environments)
	sort.Strings(s.Environments)
	if s.Policy == nil {
		s.Policy = NewPolicy(nil, nil, nil)
	}
	return &s
}

// Settings returns the settings in force. The caller must not change
// them.
func (e *Engine) Settings() *Settings { return e.settings.Load() }

// Reconfigure puts s in force for every command that starts from now on.
// It refuses settings that would strand work in progress: an environment
// may leave the config only when no run is going on it, no request on it
// awaits approval, and none is being filed (planned, not yet recorded).
// The caller audits the change (it knows what the change was);
// Reconfigure logs nothing.
func (e *Engine) Reconfigure(ctx context.Context, s Settings) error {
	next := s.normalised()
	// No request on an environment starts being filed while this looks
	// (startFiling), and one filed before is in the store or counted.
	e.filingMu.Lock()
	defer e.filingMu.Unlock()
	removed := []string{}
	for _, env := range e.Settings().Environments {
		if !slices.Contains(next.Environments, env) {
			removed = append(removed, env)
		}
	}
	if len(removed) > 0 {
		var busy []string
		for _, env := range removed {
			if n := e.filing[env]; n > 0 {
				busy = append(busy, fmt.Sprintf("%s (%s being filed)", env, Plural(n, "request")))
			}
		}
		runs, err := e.runs.Runs(ctx, RunFilter{States: []RunState{Running, AwaitingApproval}})
		if err != nil {
			return fmt.Errorf("reading the runs in progress: %w", err)
		}
		for _, r := range runs {
			if slices.Contains(removed, r.Env) {
				busy = append(busy, fmt.Sprintf("%s (%s %d)", r.Env, strings.ReplaceAll(string(r.State), "-", " "), r.ID))
			}
		}
		if len(busy) > 0 {
			return Errorf(Conflict, "environments removed from the config still have work in progress: %s; wait for it to end (or deny the requests) and reload again", strings.Join(busy, ", "))
		}
	}
	e.settings.Store(next)
	return nil
}
