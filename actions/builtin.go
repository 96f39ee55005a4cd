package actions

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

func (e *Engine) registerBuiltins() {
	for _, a := range []*Action{
		e.helpAction(), e.whoamiAction(),
		e.approveAction(), e.denyAction(),
		e.lockAction(), e.unlockAction(),
		e.runsAction(), e.runAction(), e.cancelAction(),
		e.auditAction(),
	} {
		e.catalog.Add(a)
	}
}

func (e *Engine) helpAction() *Action {
	return &Action{
		Name: "help", Summary: "what you can do, or how to use one command",
		Args: []Arg{{Name: "command", Kind: ArgWord, Optional: true}},
		Query: func(ctx context.Context, req *Request) (Message, error) {
			if name := strings.ToLower(req.Arg("command")); name != "" {
				a, ok := e.catalog.Lookup(name)
				if !ok {
					return Message{}, Errorf(NotFound, "there is no command `%s`%s", name, e.suggest(name))
				}
				m := Message{Title: a.Name, Summary: "usage: " + a.Usage(), Text: a.Summary}
				if a.Help != "" {
					m.Text += "\n" + a.Help
				}
				m.Lines = []string{"usage: " + a.Usage()}
				for _, f := range a.Flags {
					m.Lines = append(m.Lines, fmt.Sprintf("  --%s  %s", f.Name, f.Help))
				}
				if a.Destructive {
					m.Footer = "destructive: always needs a second person's approval"
				}
				return m, nil
			}
			m := Message{Title: "infrabot commands", Summary: "infrabot commands you can use"}
			for _, a := range e.catalog.All() {
				if a.Name != "help" && a.Name != "whoami" && !e.mayEver(req.Person, a.Name) {
					continue
				}
				m.Lines = append(m.Lines, fmt.Sprintf("%-34s %s", a.Usage(), a.Summary))
			}
			m.Footer = "In a channel, start commands with /infra. `help <command>` says more about one."
			if req.Person == nil {
				m.Footer = "infrabot does not know you yet: ask an admin to add you under people in the config. " + m.Footer
			}
			return m, nil
		},
	}
}

// mayEver reports whether person may run action on some environment.
func (e *Engine) mayEver(person *Person, action string) bool {
	return e.Settings().Policy.Permits(person, action)
}

func (e *Engine) whoamiAction() *Action {
	return &Action{
		Name: "whoami", Summary: "who infrabot thinks you are, and your roles",
		Query: func(ctx context.Context, req *Request) (Message, error) {
			if req.Person == nil {
				who := ""
				if req.Origin.UserID != "" {
					who = fmt.Sprintf(" (%s user %s)", req.Origin.Platform, req.Origin.UserID)
				}
				return Message{Summary: fmt.Sprintf("infrabot does not know you%s; you may use only `help` and `whoami`. Ask an admin to add you under people in the config.", who)}, nil
			}
			var may []string
			for _, a := range e.catalog.All() {
				if e.mayEver(req.Person, a.Name) {
					may = append(may, a.Name)
				}
			}
			return Message{
				Summary: fmt.Sprintf("you are %s; roles: %s", req.Person.Name, listOr(e.Policy().RoleNames(req.Person), "none")),
				Fields: []Field{
					{"person", req.Person.Name},
					{"roles", listOr(e.Policy().RoleNames(req.Person), "none")},
					{"may use", listOr(may, "only help and whoami")},
				},
			}, nil
		},
	}
}

func (e *Engine) runsAction() *Action {
	return &Action{
		Name: "runs", Summary: "recent runs, newest first",
		Args: []Arg{{Name: "env", Kind: ArgEnv, Optional: true}},
		Query: func(ctx context.Context, req *Request) (Message, error) {
			runs, err := e.runs.Runs(ctx, RunFilter{Env: req.Env, Limit: 20})
			if err != nil {
				return Message{}, err
			}
			m := Message{Title: "recent runs", Summary: Plural(len(runs), "recent run")}
			if len(runs) == 0 {
				m.Summary = "no runs yet"
			}
			now := e.now()
			for _, r := range runs {
				m.Lines = append(m.Lines, visible(fmt.Sprintf("#%-4d %-18s %-28s %-8s %s ago", r.ID, r.State, r.Command, r.Person, elapsed(now.Sub(r.Created).Truncate(time.Second)))))
			}
			return m, nil
		},
	}
}

func (e *Engine) runAction() *Action {
	return &Action{
		Name: "run", Summary: "one run in detail: its plan, steps and outcome; `log`: its whole output",
		Help: "`run 17` shows the run's steps and latest output; `run 17 log` its whole log as kept " +
			"(a step's first and last lines, saying how many were cut between them).",
		Args: []Arg{{Name: "id", Kind: ArgID}, {Name: "log", Kind: ArgWord, Optional: true}},
		Query: func(ctx context.Context, req *Request) (Message, error) {
			switch strings.ToLower(req.Arg("log")) {
			case "":
			case "log":
				r, lines, err := e.RunLog(ctx, req.ID("id"))
				if err != nil {
					return Message{}, err
				}
				return RunLogMessage(r, lines), nil
			default:
				return Message{}, Errorf(Invalid, "`run` takes a run id and optionally `log`: `run %d log`", req.ID("id"))
			}
			r, err := e.Run(ctx, req.ID("id"))
			if err != nil {
				return Message{}, err
			}
			return RunMessage(r, e.now()), nil
		},
	}
}

func (e *Engine) cancelAction() *Action {
	return &Action{
		Name: "cancel", Summary: "stop a run, or withdraw a request awaiting approval",
		Args:    []Arg{{Name: "id", Kind: ArgID}},
		Mutates: true,
		Query: func(ctx context.Context, req *Request) (Message, error) {
			id := req.ID("id")
			r, err := e.runs.Run(ctx, id)
			if err != nil {
				return Message{}, err
			}
			if err := e.Policy().Allowed(req.Person, "cancel", r.Env); err != nil {
				return Message{}, err
			}
			switch r.State {
			case AwaitingApproval:
				if _, err := e.expire(ctx, id, req.Person.Name); err != nil {
					return Message{}, err
				}
				return Message{Summary: fmt.Sprintf("withdrew request %d (`%s`)", id, r.Command), Tone: ToneWarning}, nil
			case Running:
				// Taken and given back at once: the start that recorded
				// the run as running has put it in e.active by then. A
				// run still starting (no cancel func yet) is then not
				// started at all (see launch).
				e.startMu.Lock()
				e.startMu.Unlock()
				e.mu.Lock()
				a := e.active[id]
				by := ""
				if a != nil {
					if by = a.cancelledBy; by == "" {
						a.cancelledBy = req.Person.Name
						if a.cancel != nil {
							a.cancel()
						}
					}
				}
				e.mu.Unlock()
				if a == nil {
					return Message{}, Errorf(Conflict, "run %d is not running in this infrabot", id)
				}
				if by != "" { // one cancel decides; a second changes nothing
					return Message{}, Errorf(Conflict, "run %d is being cancelled already, by %s; it stops at its next safe point", id, by)
				}
				e.record(ctx, AuditEntry{Person: req.Person.Name, Event: "cancel", Action: r.Action, Env: r.Env, Run: id})
				return Message{Summary: understood(req, fmt.Sprintf("— cancelling run %d (`%s`); it stops at its next safe point", id, r.Command)), Tone: ToneWarning}, nil
			}
			return Message{}, Errorf(Conflict, "run %d has already ended: %s", id, r.State)
		},
	}
}

func (e *Engine) auditAction() *Action {
	return &Action{
		Name: "audit", Summary: "the latest audit records (admin)",
		Args: []Arg{{Name: "count", Kind: ArgCount, Optional: true}},
		Query: func(ctx context.Context, req *Request) (Message, error) {
			n := 20
			if c := req.Arg("count"); c != "" {
				fmt.Sscan(c, &n)
			}
			entries, err := e.audit.Tail(ctx, n)
			if err != nil {
				return Message{}, err
			}
			m := Message{Title: "audit log", Summary: "the last " + Plural(len(entries), "audit record"), Tail: true}
			if len(entries) == 1 {
				m.Summary = "the last audit record"
			}
			width := 1
			for _, a := range entries {
				width = max(width, len(strconv.FormatUint(a.Seq, 10)))
			}
			for _, a := range entries {
				line := fmt.Sprintf("%*d %s %-10s %-18s", width, a.Seq, a.Time.UTC().Format("2006-01-02 15:04:05"), a.Person, a.Event)
				if a.Action != "" {
					line += " " + a.Action
				}
				if a.Env != "" {
					line += " " + a.Env
				}
				if a.Run != 0 {
					line += fmt.Sprintf(" run %d", a.Run)
				}
				if a.Detail != "" {
					line += " — " + a.Detail
				}
				// A record is one line, whatever its detail holds: a
				// request is recorded as typed, by anyone.
				m.Lines = append(m.Lines, visible(line))
			}
			m.Footer = "`infrabot audit verify` checks the whole hash chain"
			return m, nil
		},
	}
}
