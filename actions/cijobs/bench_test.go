package cijobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/zuul/zuultest"
)

// BenchmarkPoll is one poll of a Zuul page of 100 builds of 100 owned
// jobs that are already known: the HTTP round trip on loopback, decoding,
// and one transaction that ticks every job's state.
func BenchmarkPoll(b *testing.B) {
	cw := newCIWorld(b, zuultest.Nested, ciSquad())
	for i := range 100 {
		cw.build(fmt.Sprintf("periodic-tripleo-ci-%d-standalone", i), "SUCCESS", time.Hour)
	}
	m := cw.module
	ctx := context.Background()
	if err := m.Poll(ctx, "rdo-zuul"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := m.Poll(ctx, "rdo-zuul"); err != nil {
			b.Fatal(err)
		}
	}
}
