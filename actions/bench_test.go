package actions_test

import (
	"context"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// BenchmarkExecuteQuery measures a whole command through the engine on
// bbolt: parse, authorise, answer, and the two audit records it writes.
func BenchmarkExecuteQuery(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	inv := actions.Invocation{Person: "bob", Text: "/infra runs staging", Origin: actions.Origin{Platform: "test", Channel: "C1"}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := w.Engine.Execute(ctx, inv); r.Tone == actions.ToneDanger {
			b.Fatal(r.Summary)
		}
	}
}

// BenchmarkAuditAppend measures one sealed, committed audit record.
func BenchmarkAuditAppend(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	e := actions.AuditEntry{Time: time.Now(), Person: "bob", Event: "request", Detail: "lock staging \"db upgrade\""}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.DB.Append(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealEncoded measures sealing one audit record after another:
// its JSON and its hash, the CPU the store's single writer spends on
// each record.
func BenchmarkSealEncoded(b *testing.B) {
	prev := &actions.AuditEntry{Seq: 41, Hash: "0f3c9a5e2b7d4c1a8e6f0b3d9c2a7e5f1b4d8c0a6e3f9b2d7c5a1e8f4b0d6c3a"}
	at := time.Date(2026, 12, 1, 19, 0, 0, 123456789, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		e := actions.AuditEntry{Time: at, Person: "alice", Event: "request", Detail: "lock staging \"db upgrade, back at 15:00\" --force"}
		e.SealEncoded(prev)
	}
}

// BenchmarkParse measures the command grammar alone.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := actions.Parse(`/infra lock staging "db upgrade, back at 15:00" --force`); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProgressOfParallelSteps measures one run whose 200 steps are
// run 20 at once, each started, given a detail and ended (600 events), as
// a provision of 200 servers reports: events that happen while others
// are being written share their append.
func BenchmarkProgressOfParallelSteps(b *testing.B) {
	w := newWorld(b)
	registerParallelBatch(w, 200, 20)
	ctx := context.Background()
	inv := actions.Invocation{Person: "alice", Text: "batch staging", Origin: actions.Origin{Platform: "test", Channel: "C1"}}
	before := w.DB.Commits()
	runs := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := w.Engine.Execute(ctx, inv); r.Tone == actions.ToneDanger {
			b.Fatal(r.Summary)
		}
		w.Engine.Wait()
		runs++
	}
	b.StopTimer()
	after := w.DB.Commits()
	b.ReportMetric(float64(after.Transactions-before.Transactions)/float64(runs), "commits/run")
}
