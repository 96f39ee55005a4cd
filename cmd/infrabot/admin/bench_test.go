package admin_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/infrabot/infrabot/cmd/infrabot/admin"
	"github.com/infrabot/infrabot/cmd/infrabot/admin/admintest"
)

// BenchmarkScrapePerCheckLabels is what one /metrics scrape, over HTTP
// on loopback, would cost if health checks' metrics were labelled by
// check: a synthetic family per check, runs by result (ok, failed) and
// whether it is up, for 5,000 checks — 15,000 series, on top of the
// process's own. It is why they are labelled by type instead; the real
// module's scrape is BenchmarkScrape5000Checks in cmd/infrabot.
func BenchmarkScrapePerCheckLabels(b *testing.B) {
	const checks = 5000
	names := make([]string, checks)
	for i := range names {
		names[i] = fmt.Sprintf("check-%04d", i)
	}
	m := admin.NewMetrics("bench")
	m.Read(admin.Counter, "infrabot_check_runs_total", "Health check runs by check and result.", []string{"check", "result"}, func(emit admin.Emit) {
		for i, n := range names {
			emit(float64(1000+i), n, "ok")
			emit(float64(i%7), n, "failed")
		}
	})
	m.Read(admin.Gauge, "infrabot_check_up", "1 when the check's last run passed.", []string{"check"}, func(emit admin.Emit) {
		for i, n := range names {
			emit(float64(i%2), n)
		}
	})
	s, err := admin.Listen("127.0.0.1:0", m, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	defer cancel()
	go s.Serve(ctx)
	url := "http://" + s.Addr() + "/metrics"
	if got := admintest.Scrape(b, url); got.Series() < 3*checks {
		b.Fatalf("%d series, want at least %d", got.Series(), 3*checks)
	}
	admintest.BenchScrape(b, url)
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
