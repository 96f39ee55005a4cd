package actions_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/storage"
)

// brokenAudit is an audit log whose disk fails while broken is set.
type brokenAudit struct {
	*storage.DB
	broken atomic.Bool
}

func (b *brokenAudit) Append(ctx context.Context, e actions.AuditEntry) (actions.AuditEntry, error) {
	if b.broken.Load() {
		return e, errors.New("disk full")
	}
	return b.DB.Append(ctx, e)
}

// Every request is in the audit log before anything is done about it: a
// command whose request cannot be recorded is refused and not run.
func TestCommandThatCannotBeAuditedDoesNotRun(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	audit := &brokenAudit{DB: db}
	seen := &observed{}
	e := actions.NewEngine(actions.Options{Policy: actionstest.People(), Runs: db, Locks: db, Audit: audit, Environments: []string{"staging"}, Observer: seen})
	defer e.Close()
	var ran atomic.Int32
	e.Register(&actions.Action{Name: "poke", Summary: "does something outside infrabot",
		Query: func(ctx context.Context, req *actions.Request) (actions.Message, error) {
			ran.Add(1)
			return actions.Message{Text: "poked"}, nil
		},
	})
	inv := actions.Invocation{Person: "alice", Text: "poke", Origin: actions.Origin{Platform: "test", Channel: "C1"}}

	audit.broken.Store(true)
	r := e.Execute(context.Background(), inv)
	if ran.Load() != 0 {
		t.Fatal("a command ran although its request could not be audited")
	}
	if !r.Private || r.Tone != actions.ToneDanger || !strings.Contains(r.Text, "audit log") {
		t.Errorf("answered %+v, want a private refusal naming the audit log", r)
	}
	if got := seen.last(); got != "poke unavailable" {
		t.Errorf("the refusal was counted as %q, want poke unavailable", got)
	}

	audit.broken.Store(false)
	if r := e.Execute(context.Background(), inv); ran.Load() != 1 || r.Text != "poked" {
		t.Errorf("with the audit log back, ran %d times and answered %+v", ran.Load(), r)
	}
}
