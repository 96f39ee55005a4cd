package slack

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

type countRouter struct{ n atomic.Int64 }

func (r *countRouter) Handle(context.Context, bot.Incoming) (actions.Reply, bool) {
	r.n.Add(1)
	return actions.Reply{}, false
}

// Every command accepted (acknowledged to Slack) runs, even one accepted
// while Close is stopping the workers; none is accepted after Close.
func TestCloseRunsEveryAcceptedCommand(t *testing.T) {
	t.Parallel()
	for range 50 {
		r := &countRouter{}
		a, err := New(Options{BotToken: "xoxb-test", Router: r, Workers: 2, Queue: 64})
		if err != nil {
			t.Fatal(err)
		}
		var accepted atomic.Int64
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 200 {
					if a.submit(job{in: bot.Incoming{Platform: Platform, UserID: fmt.Sprintf("U%d", i), Channel: "C1", Text: "runs"}}) {
						accepted.Add(1)
					}
				}
			}()
		}
		if err := a.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if got, want := r.n.Load(), accepted.Load(); got != want {
			t.Fatalf("%d commands were accepted and %d ran", want, got)
		}
		if n := a.commands.Pending(); n != 0 {
			t.Fatalf("%d commands still pending after Close", n)
		}
	}
}
