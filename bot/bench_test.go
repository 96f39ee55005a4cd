package bot_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
)

// instant is a platform that answers every call at once.
type instant struct{}

func (instant) Post(ctx context.Context, channel string, m actions.Message) (string, []string, error) {
	return "m", nil, nil
}
func (instant) Update(ctx context.Context, channel, id string, m actions.Message) ([]string, error) {
	return nil, nil
}
func (instant) Thread(ctx context.Context, channel, id string, lines []string) (int, error) {
	return len(lines), nil
}
func (instant) OpenDM(ctx context.Context, user string) (string, error) { return "D" + user, nil }
func (instant) Classify(err error) (bot.Failure, time.Duration)         { return bot.Refused, 0 }

// BenchmarkUpdate measures what queuing one state of a live message costs
// the caller (the engine, at every step of a run): 200 live messages
// updated from 4 goroutines, the platform answering at once, states
// coalesced within the 1s interval.
func BenchmarkUpdate(b *testing.B) {
	o := bot.NewOutbox(instant{}, bot.OutboxOptions{})
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	m := actions.Message{Summary: "run 1", Lines: []string{"✓ step 1", "… step 2"}}
	b.ReportAllocs()
	b.SetParallelism(1)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			o.Update("C1", ids[i%len(ids)], m)
			i++
		}
	})
	b.StopTimer()
	if err := o.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSend measures a message through the queue to a platform that
// answers at once: lane, call, count, and the message remembered.
func BenchmarkSend(b *testing.B) {
	o := bot.NewOutbox(instant{}, bot.OutboxOptions{})
	m := actions.Message{Summary: "hello", Text: "hello"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		o.Send(fmt.Sprintf("C%d", i%8), m)
	}
	if err := o.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}
