package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/cmd/infrabot/admin/admintest"
	"github.com/infrabot/infrabot/config"
)

// BenchmarkScrape5000Checks is the cost of one /metrics scrape, over
// HTTP on loopback and gzip as Prometheus asks, of infrabot wired as
// `infrabot run` wires it with 5,000 real http checks configured, every
// one of which has run (a tenth of them failing, with their incidents
// open), so that every family the health module feeds has samples.
func BenchmarkScrape5000Checks(b *testing.B) {
	const checks = 5000
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/down") {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer target.Close()
	var y strings.Builder
	fmt.Fprintf(&y, "storage: {path: %s/infrabot.db}\nadmin: {listen: 127.0.0.1:0}\nchannels: {default: {}}\nchecks:\n", b.TempDir())
	for i := range checks {
		path := "/up"
		if i%10 == 0 {
			path = "/down"
		}
		fmt.Fprintf(&y, "  - {name: check-%04d, type: http, url: %q, schedule: \"@every 2s\", failures_before_incident: 1}\n", i, target.URL+path)
	}
	cfg, err := config.Parse("bench.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	app, err := NewApp(cfg, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	s, err := serveAdmin(app)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx)
	// Every check runs once (each within its first interval), then the
	// scheduler stops, so that checks do not run while scrapes are timed.
	if err := app.Sched.Start(ctx); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for ran := uint64(0); ran < checks; {
		if time.Now().After(deadline) {
			b.Fatalf("%d checks ran in a minute, want %d", ran, checks)
		}
		time.Sleep(100 * time.Millisecond)
		ran = 0
		for _, k := range app.Health.Stats().Kinds {
			ran += k.Passed + k.Failed
		}
	}
	app.Sched.Close()
	app.Health.Wait()

	url := "http://" + s.Addr() + "/metrics"
	fams := admintest.Scrape(b, url)
	if v, _ := fams.Value("infrabot_health_checks", "type=http"); v != checks {
		b.Fatalf("infrabot_health_checks{type=http} = %v, want %d", v, checks)
	}
	if v, _ := fams.Value("infrabot_health_incidents_open"); v < checks/10 {
		b.Fatalf("infrabot_health_incidents_open = %v, want %d", v, checks/10)
	}
	admintest.BenchScrape(b, url)
	b.ReportMetric(float64(fams.Series()), "series")
}
