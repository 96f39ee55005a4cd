package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/cmd/infrabot/admin"
	"github.com/infrabot/infrabot/cmd/infrabot/admin/admintest"
)

func start(t *testing.T, m *admin.Metrics) *admin.Server {
	t.Helper()
	s, err := admin.Listen("127.0.0.1:0", m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestReadyzNamesEachPart: /readyz names every part with its state, and
// answers 503 while one is down; /healthz answers as long as the process
// does.
func TestReadyzNamesEachPart(t *testing.T) {
	t.Parallel()
	s := start(t, admin.NewMetrics("test"))
	var slackDown atomic.Bool
	s.Watch(
		admin.Part{Name: "store", Ready: func(context.Context) (bool, string) { return true, "open, 32768 bytes" }},
		admin.Part{Name: "slack", Ready: func(context.Context) (bool, string) {
			if !slackDown.Load() {
				return true, "connected"
			}
			return false, "connection failed, retrying"
		}},
	)
	base := "http://" + s.Addr()
	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := get(t, base+"/readyz")
	var rd admin.Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil || code != 200 || rd.Status != "ready" || len(rd.Parts) != 2 {
		t.Fatalf("/readyz with every part up: %d %s (%v)", code, body, err)
	}
	slackDown.Store(true)
	code, body = get(t, base+"/readyz")
	rd = admin.Readiness{}
	json.Unmarshal([]byte(body), &rd)
	want := []admin.PartState{{Name: "store", OK: true, State: "open, 32768 bytes"}, {Name: "slack", OK: false, State: "connection failed, retrying"}}
	if code != http.StatusServiceUnavailable || rd.Status != "not ready" || len(rd.Parts) != 2 || rd.Parts[0] != want[0] || rd.Parts[1] != want[1] {
		t.Errorf("/readyz with slack down: %d %s", code, body)
	}
	fams := admintest.Scrape(t, base+"/metrics")
	if v, ok := fams.Value("infrabot_ready", "part=slack"); !ok || v != 0 {
		t.Errorf("infrabot_ready{part=slack} = %v %v, want 0", v, ok)
	}
	if v, ok := fams.Value("infrabot_ready", "part=store"); !ok || v != 1 {
		t.Errorf("infrabot_ready{part=store} = %v %v, want 1", v, ok)
	}
}

// TestMetricsFollowConventions scrapes what the observer and the families
// read at scrape time give, through Prometheus' parser, and checks names,
// types and label sets.
func TestMetricsFollowConventions(t *testing.T) {
	t.Parallel()
	m := admin.NewMetrics("v1.2.3")
	var o actions.Observer = m
	o.Command("provision", "ok")
	o.Command("provision", "ok")
	o.Command("teardown", "permission")
	o.RunEnded("provision", actions.Succeeded, 90*time.Second)
	for _, ev := range []string{"request", "approval-requested", "approved", "approval-requested", "expired"} {
		o.Audited(ev)
	}
	m.CIPolled("zuul", nil)
	m.CIPolled("zuul", errors.New("502"))
	m.Reloaded(false)
	m.Read(admin.Counter, "infrabot_chat_calls_total", "Chat API calls.", []string{"platform", "method", "result"}, func(emit admin.Emit) {
		emit(7, "slack", "post", "delivered")
		emit(1, "slack", "post", "rate_limited")
	})
	m.Read(admin.Gauge, "infrabot_store_size_bytes", "Store size.", nil, func(emit admin.Emit) { emit(65536) })
	m.ReadHistogram("infrabot_health_check_duration_seconds", "Check durations.", []string{"type"}, func(emit admin.EmitHistogram) {
		emit(3, 0.75, map[float64]uint64{0.1: 1, 0.5: 2, 1: 3}, "http")
		emit(0, 0, map[float64]uint64{0.1: 0, 0.5: 0, 1: 0}, "ssh")
	})
	s := start(t, m)
	fams := admintest.Scrape(t, "http://"+s.Addr()+"/metrics")

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"infrabot_commands_total", []string{"action=provision", "outcome=ok"}, 2},
		{"infrabot_commands_total", []string{"action=teardown", "outcome=permission"}, 1},
		{"infrabot_run_duration_seconds", []string{"action=provision", "outcome=succeeded"}, 1},
		{"infrabot_approval_requests_total", []string{"outcome=requested"}, 2},
		{"infrabot_approval_requests_total", []string{"outcome=approved"}, 1},
		{"infrabot_approval_requests_total", []string{"outcome=expired"}, 1},
		{"infrabot_approval_requests_total", []string{"outcome=denied"}, 0},
		{"infrabot_audit_records_total", []string{"event=request"}, 1},
		{"infrabot_ci_polls_total", []string{"source=zuul", "result=ok"}, 1},
		{"infrabot_ci_polls_total", []string{"source=zuul", "result=failed"}, 1},
		{"infrabot_config_reloads_total", []string{"result=refused"}, 1},
		{"infrabot_config_reloads_total", []string{"result=applied"}, 0},
		{"infrabot_chat_calls_total", []string{"platform=slack", "method=post", "result=delivered"}, 7},
		{"infrabot_store_size_bytes", nil, 65536},
	} {
		if v, ok := fams.Value(c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if h := fams["infrabot_run_duration_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleSum() != 90 {
		t.Errorf("run duration sum = %v s, want 90", h.GetSampleSum())
	}
	if f := fams["infrabot_health_check_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM || len(f.GetMetric()) != 2 {
		t.Errorf("a histogram read at scrape time: %v", f)
	} else {
		for _, mt := range f.GetMetric() {
			if mt.GetLabel()[0].GetValue() != "http" {
				continue
			}
			h := mt.GetHistogram()
			var got []string
			for _, b := range h.GetBucket() {
				got = append(got, fmt.Sprintf("le=%v:%d", b.GetUpperBound(), b.GetCumulativeCount()))
			}
			if h.GetSampleCount() != 3 || h.GetSampleSum() != 0.75 || strings.Join(got, " ") != "le=0.1:1 le=0.5:2 le=1:3 le=+Inf:3" {
				t.Errorf("http durations: count %d, sum %v, buckets %v", h.GetSampleCount(), h.GetSampleSum(), got)
			}
		}
	}
	if _, ok := fams.Value("infrabot_build_info", "version=v1.2.3", "goversion="+goVersion(fams)); !ok {
		t.Error("no infrabot_build_info with the version")
	}
	for name, fam := range fams {
		if !strings.HasPrefix(name, "infrabot_") {
			continue
		}
		switch fam.GetType() {
		case dto.MetricType_COUNTER:
			if !strings.HasSuffix(name, "_total") {
				t.Errorf("counter %s does not end in _total", name)
			}
		case dto.MetricType_GAUGE, dto.MetricType_HISTOGRAM:
			if strings.HasSuffix(name, "_total") {
				t.Errorf("%s %s ends in _total", fam.GetType(), name)
			}
		}
		if fam.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "run" || l.GetName() == "id" || l.GetName() == "person" || l.GetName() == "text" {
					t.Errorf("%s has a label %s, whose values are unbounded", name, l.GetName())
				}
			}
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("the Go runtime's metrics are missing")
	}
}

func goVersion(f admintest.Families) string {
	for _, m := range f["infrabot_build_info"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "goversion" {
				return l.GetValue()
			}
		}
	}
	return ""
}

// TestReadFromTakesOneSnapshotPerScrape: families registered with
// ReadFrom read one value the part gives per scrape, so they agree with
// each other and the part is asked once, not once per family.
func TestReadFromTakesOneSnapshotPerScrape(t *testing.T) {
	t.Parallel()
	m := admin.NewMetrics("test")
	type counts struct{ up, down int }
	var taken atomic.Int64
	take := func() counts {
		n := int(taken.Add(1))
		return counts{up: 10 * n, down: n}
	}
	type family = admin.Family[counts]
	admin.ReadFrom(m, take,
		family{Kind: admin.Gauge, Name: "infrabot_test_up", Help: "Up.", Read: func(c counts, emit admin.Emit) { emit(float64(c.up)) }},
		family{Kind: admin.Counter, Name: "infrabot_test_down_total", Help: "Down.", Read: func(c counts, emit admin.Emit) { emit(float64(c.down)) }},
		family{Name: "infrabot_test_seconds", Help: "Durations.", ReadHistogram: func(c counts, emit admin.EmitHistogram) {
			emit(uint64(c.down), float64(c.up), map[float64]uint64{1: uint64(c.down)})
		}},
	)
	s := start(t, m)
	for scrape := 1; scrape <= 2; scrape++ {
		fams := admintest.Scrape(t, "http://"+s.Addr()+"/metrics")
		if n := taken.Load(); n != int64(scrape) {
			t.Fatalf("after %d scrapes the part was read %d times", scrape, n)
		}
		up, _ := fams.Value("infrabot_test_up")
		down, _ := fams.Value("infrabot_test_down_total")
		h := fams["infrabot_test_seconds"].GetMetric()[0].GetHistogram()
		if up != float64(10*scrape) || down != float64(scrape) || h.GetSampleCount() != uint64(scrape) {
			t.Errorf("scrape %d: up %v, down %v, histogram count %d; want %d, %d, %d from one snapshot",
				scrape, up, down, h.GetSampleCount(), 10*scrape, scrape, scrape)
		}
	}
}
