package actions

import (
	"context"
	"fmt"
	"time"
)

// lockHeld explains who holds l, for a refusal.
func lockHeld(l *Lock, now time.Time) error {
	why := ""
	if l.Reason != "" {
		why = fmt.Sprintf(" (%s)", quote(l.Reason))
	}
	what := "locked by " + l.Person
	if l.RunID != 0 {
		what = fmt.Sprintf("in use by run %d of %s", l.RunID, l.Person)
		if l.Manual {
			what = fmt.Sprintf("locked by %s and in use by their run %d", l.Person, l.RunID)
		}
	}
	ago := "moments"
	if d := now.Sub(l.Since); d >= time.Second {
		ago = elapsed(d.Truncate(time.Second))
	}
	return Errorf(Conflict, "%s is %s%s since %s (%s ago)", l.Env, what, why, l.Since.UTC().Format("2006-01-02 15:04 UTC"), ago)
}

// lockAllowsRun checks, without taking anything, that person could start a
// run on env now. begin takes the lock for real, atomically.
func (e *Engine) lockAllowsRun(ctx context.Context, env, person string) error {
	locks, err := e.locks.Locks(ctx)
	if err != nil {
		return err
	}
	for _, l := range locks {
		if l.Env == env {
			return runMayUse(&l, person, e.now())
		}
	}
	return nil
}

func runMayUse(l *Lock, person string, now time.Time) error {
	if l.RunID != 0 || (l.Manual && l.Person != person) {
		return lockHeld(l, now)
	}
	return nil
}

// acquireRunLock makes run the one mutating run of its environment.
func (e *Engine) acquireRunLock(ctx context.Context, run *Run) error {
	_, err := e.locks.UpdateLock(ctx, run.Env, func(l *Lock) (*Lock, error) {
		if l == nil {
			return &Lock{Env: run.Env, Person: run.Person, Reason: run.Command, Since: e.now(), RunID: run.ID}, nil
		}
		if err := runMayUse(l, run.Person, e.now()); err != nil {
			return nil, err
		}
		held := *l
		held.RunID = run.ID
		return &held, nil
	})
	return err
}

// releaseRunLock gives up run's hold on its environment, keeping a
// person's lock that was there before.
func (e *Engine) releaseRunLock(ctx context.Context, run *Run) {
	_, err := e.locks.UpdateLock(ctx, run.Env, func(l *Lock) (*Lock, error) {
		if l == nil || l.RunID != run.ID {
			return l, nil
		}
		if !l.Manual {
			return nil, nil
		}
		kept := *l
		kept.RunID = 0
		return &kept, nil
	})
	if err != nil {
		e.runLog(run).Error("releasing a run's lock failed", "err", err)
	}
}

// staleHold returns the run that holds env although it has ended (or is
// not in the store), with its state for people; 0 when none does.
func (e *Engine) staleHold(ctx context.Context, env string) (int64, string) {
	locks, err := e.locks.Locks(ctx)
	if err != nil {
		e.log.Error("reading the locks failed", "err", err)
		return 0, ""
	}
	for _, l := range locks {
		if l.Env == env && l.RunID != 0 {
			if ended, state := e.holdEnded(ctx, l.RunID); ended {
				return l.RunID, state
			}
		}
	}
	return 0, ""
}

func (e *Engine) lockAction() *Action {
	return &Action{
		Name: "lock", Summary: "keep others from changing an environment",
		Help:    "While you hold the lock, only you can start runs on the environment. `unlock` gives it back.",
		Args:    []Arg{{Name: "env", Kind: ArgEnv}, {Name: "reason", Kind: ArgText, Optional: true}},
		Mutates: true,
		Query: func(ctx context.Context, req *Request) (Message, error) {
			now := e.now()
			_, err := e.locks.UpdateLock(ctx, req.Env, func(l *Lock) (*Lock, error) {
				switch {
				case l == nil:
					return &Lock{Env: req.Env, Person: req.Person.Name, Reason: req.Arg("reason"), Since: now, Manual: true}, nil
				case l.Manual && l.Person == req.Person.Name:
					return nil, Errorf(Conflict, "you already hold the lock on %s", req.Env)
				default:
					return nil, lockHeld(l, now)
				}
			})
			if err != nil {
				return Message{}, err
			}
			return Message{Summary: understood(req, fmt.Sprintf("— %s is locked by %s", req.Env, req.Person.Name)), Tone: ToneSuccess}, nil
		},
	}
}

func (e *Engine) unlockAction() *Action {
	return &Action{
		Name: "unlock", Summary: "give back the lock on an environment",
		Help: "Only the person who locked an environment can unlock it; an admin can break someone else's lock with --force (audited). " +
			"A run in progress keeps the environment until it ends; --force also clears the hold of a run that has ended but still holds it.",
		Args:    []Arg{{Name: "env", Kind: ArgEnv}},
		Flags:   []Flag{{Name: "force", Help: "break another person's lock, or the hold of a run that has ended (admin)", Permission: "unlock-force"}},
		Mutates: true,
		Query: func(ctx context.Context, req *Request) (Message, error) {
			force := req.Flag("force") // the engine has checked unlock-force
			var stale int64            // a run that has ended but holds req.Env
			staleState := ""
			if force {
				stale, staleState = e.staleHold(ctx, req.Env)
			}
			var was Lock
			var cleared int64
			_, err := e.locks.UpdateLock(ctx, req.Env, func(l *Lock) (*Lock, error) {
				was, cleared = Lock{}, 0
				if stale != 0 && l != nil && l.RunID == stale {
					cleared = l.RunID
					kept := *l
					kept.RunID = 0
					if !kept.Manual {
						was = kept
						return nil, nil
					}
					l = &kept
				}
				switch {
				case l != nil && !l.Manual && l.RunID != 0:
					return l, Errorf(Conflict, "%s is not locked by anyone; run %d holds it while it runs (if that run has ended, an admin can clear its hold with `unlock %s --force`)", req.Env, l.RunID, req.Env)
				case l == nil || !l.Manual:
					return l, Errorf(Conflict, "%s is not locked by anyone", req.Env)
				case l.Person != req.Person.Name && !force:
					return l, Errorf(Permission, "%s is locked by %s, not you; ask them, or an admin can use `unlock %s --force`", req.Env, l.Person, req.Env)
				}
				was = *l
				if l.RunID != 0 {
					kept := *l
					kept.Manual = false
					return &kept, nil
				}
				return nil, nil
			})
			if err != nil {
				return Message{}, err
			}
			if cleared != 0 {
				e.record(ctx, AuditEntry{Person: req.Person.Name, Event: "run-lock-released", Action: "unlock", Env: req.Env, Run: cleared,
					Detail: fmt.Sprintf("run %d had ended (%s) but still held %s", cleared, staleState, req.Env)})
				if !was.Manual {
					return Message{Summary: understood(req, fmt.Sprintf("— run %d had ended (%s) but still held %s; its hold is cleared", cleared, staleState, req.Env)), Tone: ToneSuccess}, nil
				}
			}
			text := fmt.Sprintf("— %s is unlocked", req.Env)
			if was.Person != req.Person.Name {
				text = fmt.Sprintf("— %s's lock on %s is broken", was.Person, req.Env)
				e.record(ctx, AuditEntry{Person: req.Person.Name, Event: "lock-broken", Action: "unlock", Env: req.Env,
					Detail: fmt.Sprintf("broke %s's lock (%s)", was.Person, was.Reason)})
				// The holder hears it from infrabot, wherever they are.
				if _, err := e.Notify(ctx, []Target{{Kind: ToPerson, Name: was.Person}}, Message{
					Summary: fmt.Sprintf("%s broke your lock on %s (you locked it for %q)", req.Person.Name, req.Env, was.Reason),
					Tone:    ToneWarning,
				}); err != nil {
					e.log.Warn("telling the holder of a broken lock failed", "env", req.Env, "holder", was.Person, "err", err)
				}
			}
			if was.RunID != 0 {
				text += fmt.Sprintf("; run %d still holds it until it ends", was.RunID)
			}
			if cleared != 0 {
				text += fmt.Sprintf("; the hold of run %d, which had ended, is cleared", cleared)
			}
			return Message{Summary: understood(req, text), Tone: ToneSuccess}, nil
		},
	}
}
