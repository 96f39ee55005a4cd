package bot

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// echo is a platform that accepts everything; a message's overflow is its
// lines.
type echo struct{ n int }

func (e *echo) Post(ctx context.Context, channel string, m actions.Message) (string, []string, error) {
	e.n++
	return fmt.Sprint(e.n), m.Lines, nil
}
func (e *echo) Update(ctx context.Context, channel, id string, m actions.Message) ([]string, error) {
	return m.Lines, nil
}
func (e *echo) Thread(ctx context.Context, channel, id string, lines []string) (int, error) {
	return len(lines), nil
}
func (e *echo) OpenDM(ctx context.Context, user string) (string, error) { return "D" + user, nil }
func (e *echo) Classify(err error) (Failure, time.Duration)             { return Refused, 0 }

func (o *Outbox) remembered() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.messages)
}

// Messages are forgotten once idle for Retain: every one posted used to
// be remembered for good, with its thread count.
func TestPostedMessagesAreForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := NewOutbox(&echo{}, OutboxOptions{})
		for i := range 100 {
			var lines []string
			if i%10 == 0 {
				lines = []string{"went to the thread"}
			}
			if _, err := o.Post(t.Context(), "C1", actions.Message{Text: "hello", Lines: lines}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Minute)
		o.Send("C1", actions.Message{Text: "one more"})
		if err := o.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		// All are kept, with a thread or not, so that an update threads
		// what overflows, and only new lines.
		if n := o.remembered(); n != 101 {
			t.Errorf("%d messages remembered two minutes later, want all 101", n)
		}
		time.Sleep(time.Hour)
		o.Send("C1", actions.Message{Text: "and another"})
		if err := o.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := o.remembered(); n > 2 {
			t.Errorf("%d messages remembered an hour later", n)
		}
	})
}
