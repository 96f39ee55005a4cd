package storage_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/storage"
)

// benchRun opens a store holding one run with n output events already.
func benchRun(b *testing.B, n int) *storage.DB {
	b.Helper()
	db, err := storage.Open(filepath.Join(b.TempDir(), "infrabot.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if err := db.CreateRun(ctx, &actions.Run{Command: "deploy staging", State: actions.Running}); err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	batch := make([]actions.RunEvent, 0, 10_000)
	for i := 0; i < n; i += len(batch) {
		batch = batch[:0]
		for j := i; j < n && len(batch) < cap(batch); j++ {
			batch = append(batch, actions.RunEvent{Time: at, Note: fmt.Sprintf("deploy output line %d: a typical line of ansible output", j)})
		}
		if err := db.AppendRunEvents(ctx, 1, batch...); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// BenchmarkRunEventAppend is the cost of one more output line for a run
// that has n already: one small put in its own transaction.
func BenchmarkRunEventAppend(b *testing.B) {
	for _, n := range []int{10, 1_000, 100_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			db := benchRun(b, n)
			ctx := context.Background()
			ev := actions.RunEvent{Time: time.Now(), Note: "deploy output line: a typical line of ansible output"}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := db.AppendRunEvents(ctx, 1, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRunRewrite is what one more output line cost before the event
// log: the whole run, with all its lines, re-encoded in its record.
func BenchmarkRunRewrite(b *testing.B) {
	for _, n := range []int{10, 1_000, 10_000} {
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			db := benchRun(b, 0)
			ctx := context.Background()
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprintf("deploy output line %d: a typical line of ansible output", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := db.UpdateRun(ctx, 1, func(r *actions.Run) error { r.Output = out; return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
