package admin

import (
	"context"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/infrabot/infrabot/actions"
)

// Metrics are infrabot's Prometheus metrics. Names follow Prometheus'
// conventions (infrabot_…_total for counters, base units such as
// _seconds and _bytes), and every label takes values from a bounded set:
// action names from the catalogue, outcomes and events from the code,
// platforms, parts and sources from the config — never a run id or
// anything a person typed.
//
// Metrics is an actions.Observer; the rest is read at scrape time from
// what the wiring registers with Read.
type Metrics struct {
	reg *prometheus.Registry

	commands  *prometheus.CounterVec
	approvals *prometheus.CounterVec
	runs      *prometheus.HistogramVec
	audit     *prometheus.CounterVec
	ciPolls   *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	reloaded  prometheus.Gauge
}

var _ actions.Observer = (*Metrics)(nil)

// RunBuckets are the bounds of run durations, in seconds: from a quick
// lock to a provision of hundreds of servers.
var RunBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}

// NewMetrics returns the metrics of an infrabot of the given version,
// with the Go runtime's and the process's own.
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "infrabot_commands_total",
			Help: "Chat commands answered, by action (unknown: no such command) and outcome (ok, or the kind of error: invalid, not_found, permission, conflict, unavailable, internal).",
		}, []string{"action", "outcome"}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "infrabot_approval_requests_total",
			Help: "Approval requests by outcome: requested, approved, denied, void (the plan changed), expired, withdrawn.",
		}, []string{"outcome"}),
		runs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "infrabot_run_duration_seconds",
			Help:    "How long runs ran, from start to their end, by action and final state (succeeded, failed, cancelled, interrupted).",
			Buckets: RunBuckets,
		}, []string{"action", "outcome"}),
		audit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "infrabot_audit_records_total",
			Help: "Audit records written by this process, by event.",
		}, []string{"event"}),
		ciPolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "infrabot_ci_polls_total",
			Help: "Polls of CI sources, by source and result (ok, failed).",
		}, []string{"source", "result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "infrabot_config_reloads_total",
			Help: "Config reloads (SIGHUP) by result: applied, or refused (the config was invalid; the old one stayed).",
		}, []string{"result"}),
		reloaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "infrabot_config_last_reload_success_timestamp_seconds",
			Help: "When the config in force was loaded, in Unix seconds.",
		}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "infrabot_build_info",
		Help:        "Always 1; its labels say which infrabot this is.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.reloaded.SetToCurrentTime()
	for _, outcome := range []string{"applied", "refused"} {
		m.reloads.WithLabelValues(outcome)
	}
	for _, outcome := range approvalOutcomes {
		m.approvals.WithLabelValues(outcome)
	}
	m.reg.MustRegister(m.commands, m.approvals, m.runs, m.audit, m.ciPolls, m.reloads, m.reloaded, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the metrics are registered, for tests and for
// collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Command implements actions.Observer.
func (m *Metrics) Command(action, outcome string) {
	if action == "" {
		action = "unparsed"
	}
	m.commands.WithLabelValues(action, outcome).Inc()
}

// RunEnded implements actions.Observer.
func (m *Metrics) RunEnded(action string, state actions.RunState, took time.Duration) {
	m.runs.WithLabelValues(action, string(state)).Observe(took.Seconds())
}

// approvalOutcomes maps the audit events of an approval's life to the
// outcome label of infrabot_approval_requests_total: counted from the
// audit records, the metric agrees with the audit log.
var approvalOutcomes = map[string]string{
	"approval-requested": "requested",
	"approved":           "approved",
	"denied":             "denied",
	"approval-void":      "void",
	"expired":            "expired",
	"withdrawn":          "withdrawn",
}

// Audited implements actions.Observer.
func (m *Metrics) Audited(event string) {
	m.audit.WithLabelValues(event).Inc()
	if outcome, ok := approvalOutcomes[event]; ok {
		m.approvals.WithLabelValues(outcome).Inc()
	}
}

// CIPolled counts one poll of the CI source called source; err is its
// failure, if any.
func (m *Metrics) CIPolled(source string, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.ciPolls.WithLabelValues(source, result).Inc()
}

// Reloaded counts a config reload: applied (ok) or refused.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("applied").Inc()
		m.reloaded.SetToCurrentTime()
		return
	}
	m.reloads.WithLabelValues("refused").Inc()
}

// Kind is the type of a family of metrics read at scrape time.
type Kind int

// Kinds of families read at scrape time.
const (
	// Counter is a total that only goes up while the process lives.
	Counter Kind = iota
	// Gauge is a value that goes up and down.
	Gauge
)

// Emit adds one sample to a family being read: its value, and the values
// of the family's labels in order.
type Emit func(value float64, labelValues ...string)

// EmitHistogram adds one histogram to a family being read: how many
// observations, their sum, the cumulative count at or below each upper
// bound, and the values of the family's labels in order.
type EmitHistogram func(count uint64, sum float64, buckets map[float64]uint64, labelValues ...string)

// Read registers a family of metrics called name whose samples read
// gives at each scrape, from the counters and read methods of the part
// that keeps them (a chat adapter's delivery counts, the store's size).
// read must be quick and safe for concurrent use, and must emit only
// label values from a bounded set.
func (m *Metrics) Read(kind Kind, name, help string, labels []string, read func(emit Emit)) {
	ReadFrom(m, nothing, Family[struct{}]{Kind: kind, Name: name, Help: help, Labels: labels,
		Read: func(_ struct{}, emit Emit) { read(emit) }})
}

// ReadHistogram registers a family of histograms called name whose
// samples read gives at each scrape, from buckets a part counts itself
// (health checks' durations): the part needs no Prometheus import. read
// has Read's duties.
func (m *Metrics) ReadHistogram(name, help string, labels []string, read func(emit EmitHistogram)) {
	ReadFrom(m, nothing, Family[struct{}]{Name: name, Help: help, Labels: labels,
		ReadHistogram: func(_ struct{}, emit EmitHistogram) { read(emit) }})
}

func nothing() struct{} { return struct{}{} }

// Family is a family of metrics that ReadFrom reads from a part's
// snapshot of type T. Exactly one of Read and ReadHistogram is set; Kind
// is for Read's samples.
type Family[T any] struct {
	Kind          Kind
	Name, Help    string
	Labels        []string
	Read          func(v T, emit Emit)
	ReadHistogram func(v T, emit EmitHistogram)
}

// ReadFrom registers families read from one snapshot of a part per
// scrape: take is called once at each scrape and every family reads what
// it returned, so that the part's counts are gathered once, not once per
// family, and the families agree with each other. take and the families'
// reads have Read's duties.
func ReadFrom[T any](m *Metrics, take func() T, families ...Family[T]) {
	c := &snapshot[T]{take: take, families: families}
	for _, f := range families {
		c.descs = append(c.descs, prometheus.NewDesc(f.Name, f.Help, f.Labels, nil))
	}
	m.reg.MustRegister(c)
}

// snapshot is a prometheus.Collector reading its families at scrape time
// from one value taken per scrape.
type snapshot[T any] struct {
	take     func() T
	families []Family[T]
	descs    []*prometheus.Desc
}

func (c *snapshot[T]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *snapshot[T]) Collect(ch chan<- prometheus.Metric) {
	v := c.take()
	for i, f := range c.families {
		desc := c.descs[i]
		if f.ReadHistogram != nil {
			f.ReadHistogram(v, func(count uint64, sum float64, buckets map[float64]uint64, lv ...string) {
				mt, err := prometheus.NewConstHistogram(desc, count, sum, buckets, lv...)
				if err != nil {
					mt = prometheus.NewInvalidMetric(desc, err)
				}
				ch <- mt
			})
			continue
		}
		vt := prometheus.CounterValue
		if f.Kind == Gauge {
			vt = prometheus.GaugeValue
		}
		f.Read(v, func(value float64, lv ...string) {
			mt, err := prometheus.NewConstMetric(desc, vt, value, lv...)
			if err != nil {
				mt = prometheus.NewInvalidMetric(desc, err)
			}
			ch <- mt
		})
	}
}

// readiness makes infrabot_ready{part} from the admin server's parts.
func (m *Metrics) readiness(check func(context.Context) Readiness) {
	m.Read(Gauge, "infrabot_ready", "1 when the part is up, 0 when it is not (see /readyz for its state).", []string{"part"}, func(emit Emit) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, p := range check(ctx).Parts {
			v := 0.0
			if p.OK {
				v = 1
			}
			emit(v, p.Name)
		}
	})
}
