package slack

import (
	"context"
	"time"

	"github.com/slack-go/slack"

	"github.com/infrabot/infrabot/actions"
)

// Render gives the tests (package slack_test) the blocks a message
// renders to.
func Render(m actions.Message) []slack.Block { return render(m).Blocks }

// Drain, for the tests, waits until every command accepted so far has been handled.
func (a *Adapter) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for a.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
