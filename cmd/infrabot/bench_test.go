package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

// The end-to-end benchmark: signed Slack slash commands (`/infra whoami`)
// over real HTTP on loopback into infrabot wired as `infrabot run` wires
// it (config → bbolt store → engine → router → Slack adapter), each one
// executed and its audit record committed; replies go to a fake Slack Web
// API. Beside it, in the same run and alternating with -count: a bare
// net/http handler that only checks the HMAC, and bbolt's own db.Batch
// from 64 writers, the ceiling for durable records on this disk.

const (
	benchSecret = "bench-signing-secret"
	benchToken  = "xoxb-bench-token"
	// benchClients is how many requests are in flight at once in the
	// closed-loop runs, each on its own keep-alive connection;
	// manyClients, in the runs that show what more in flight gives (the
	// adapter runs up to 256 commands at once).
	benchClients = 64
	manyClients  = 256
	// benchPeople send the commands, from benchChannels channels.
	benchPeople   = 16
	benchChannels = 16
)

// bareRate is the bare handler's last measured req/s: the half-load run
// offers half of it.
var bareRate atomic.Int64

// benchRounds is how many times the four are run, one after the other:
// -count would run each several times in a row, so a machine busy for a
// while (CI, other builds) would weigh on one and not the others.
const benchRounds = 3

// steadyRate is a load infrabot sustains on a 2-CPU machine, to show its
// acknowledgement latency when it is not overloaded.
const steadyRate = 1000

func BenchmarkSlashCommands(b *testing.B) {
	for range benchRounds {
		b.Run("bare-hmac", benchBare)
		b.Run("infrabot", func(b *testing.B) { benchInfrabot(b, 0, benchClients) })
		b.Run(fmt.Sprintf("infrabot-%d-clients", manyClients), func(b *testing.B) { benchInfrabot(b, 0, manyClients) })
		b.Run("infrabot-half-bare-load", func(b *testing.B) {
			rate := float64(bareRate.Load()) / 2
			if rate == 0 {
				rate = 5000 // run on its own: no bare figure to halve
			}
			b.ReportMetric(rate, "offered/s")
			benchInfrabot(b, rate, 0)
		})
		b.Run(fmt.Sprintf("infrabot-%d-per-s", steadyRate), func(b *testing.B) { benchInfrabot(b, steadyRate, 0) })
		b.Run("bbolt-batch", benchBoltBatch)
		b.Run("bbolt-commit", benchBoltCommit)
	}
}

// benchWorld is infrabot with its Slack adapter serving on loopback.
type benchWorld struct {
	app *App
	srv *httptest.Server
	// served is how long infrabot's handler took for each request, from
	// when it read the request to its answer: the acknowledgement's
	// latency as infrabot sees it, without the load generator's own
	// queueing.
	served  *latencies
	drain   func(context.Context) error
	close   func()
	request func(i int) *slacktest.Request
}

func newBenchWorld(b *testing.B) *benchWorld {
	b.Helper()
	dir := b.TempDir()
	fake := slacktest.NewServer(b, benchToken)
	path := writeBenchConfig(b, dir, fake.APIURL(), "127.0.0.1:0", "")
	// A real logger formatting real lines, written nowhere.
	app, err := OpenApp(path, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	a, err := newSlack(app)
	if err != nil {
		b.Fatal(err)
	}
	served := &latencies{}
	handler := a.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		handler.ServeHTTP(w, r)
		served.add(time.Since(start))
	}))
	slack := &slacktest.App{URL: srv.URL, Secret: benchSecret}
	return &benchWorld{
		app: app, srv: srv, drain: a.Drain, served: served,
		close: func() {
			srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := a.Close(ctx); err != nil {
				b.Logf("replies still queued for Slack at the end: %v", err)
			}
			app.Close()
		},
		request: func(i int) *slacktest.Request {
			return slack.CommandRequest(fmt.Sprintf("U%07d", i%benchPeople), fmt.Sprintf("C%07d", i%benchChannels), "whoami")
		},
	}
}

// writeBenchConfig writes the benchmarks' config into dir and returns
// its path: benchPeople viewers, the store in dir, Slack in HTTP mode
// listening on listen, its Web API at apiURL, the secrets in the
// environment (set for the benchmark); extra is appended.
func writeBenchConfig(b *testing.B, dir, apiURL, listen, extra string) string {
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "storage:\n  path: %s\npeople:\n", filepath.Join(dir, "infrabot.db"))
	for p := range benchPeople {
		fmt.Fprintf(&cfg, "  p%d: {roles: [viewer], slack: U%07d}\n", p, p)
	}
	fmt.Fprintf(&cfg, `roles:
  viewer:
    allow: [help, whoami, status]
http:
  listen: %s
slack:
  mode: http
  signing_secret: ${env:INFRABOT_BENCH_SIGNING}
  bot_token: ${env:INFRABOT_BENCH_TOKEN}
  api_url: %s
`, listen, apiURL)
	cfg.WriteString(extra)
	path := filepath.Join(dir, "infrabot.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("INFRABOT_BENCH_SIGNING", benchSecret)
	b.Setenv("INFRABOT_BENCH_TOKEN", benchToken)
	return path
}

// benchInfrabot sends b.N whoami commands: as fast as they are
// acknowledged, from clients at once, when rate is 0, else at rate per
// second (open loop, each
// latency counted from when the request was due). It reports executed
// commands/s (acknowledged, run, audit record on disk), the share
// answered "busy", and ack latencies.
func benchInfrabot(b *testing.B, rate float64, clients int) {
	w := newBenchWorld(b)
	defer w.close()
	reqs := make([]*slacktest.Request, b.N)
	for i := range reqs {
		reqs[i] = w.request(i)
	}
	before := w.app.DB.Commits()
	b.ResetTimer()
	start := time.Now()
	res := load(b, w.srv.URL, reqs, rate, clients)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := w.drain(ctx); err != nil {
		b.Fatalf("the accepted commands did not all run: %v", err)
	}
	executed := time.Since(start)
	b.StopTimer()

	accepted := b.N - res.busy
	audited, err := w.app.DB.VerifyAudit(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if audited != uint64(accepted) {
		b.Fatalf("%d commands accepted, %d audited", accepted, audited)
	}
	c := w.app.DB.Commits()

	b.ReportMetric(float64(accepted)/executed.Seconds(), "executed/s")
	b.ReportMetric(float64(b.N)/res.elapsed.Seconds(), "req/s")
	b.ReportMetric(100*float64(res.busy)/float64(b.N), "busy-%")
	b.ReportMetric(float64(c.Writes-before.Writes)/float64(max(1, c.Transactions-before.Transactions)), "writes/commit")
	res.report(b)
	if served := w.served.sorted(); len(served) > 0 {
		b.ReportMetric(float64(served[len(served)*99/100].Microseconds()), "served-p99-µs")
		b.ReportMetric(float64(served[len(served)-1].Microseconds()), "served-max-µs")
	}
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) sorted() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.Sort(l.d)
	return l.d
}

func benchBare(b *testing.B) {
	srv := httptest.NewServer(slacktest.VerifyOnly(benchSecret))
	defer srv.Close()
	slack := &slacktest.App{URL: srv.URL, Secret: benchSecret}
	reqs := make([]*slacktest.Request, b.N)
	for i := range reqs {
		reqs[i] = slack.CommandRequest(fmt.Sprintf("U%07d", i%benchPeople), fmt.Sprintf("C%07d", i%benchChannels), "whoami")
	}
	b.ResetTimer()
	res := load(b, srv.URL, reqs, 0, benchClients)
	b.StopTimer()
	if res.busy > 0 {
		b.Fatalf("the bare handler refused %d requests", res.busy)
	}
	perSec := float64(b.N) / res.elapsed.Seconds()
	bareRate.Store(int64(perSec))
	b.ReportMetric(perSec, "req/s")
	res.report(b)
}

// putRecord appends a record the size of an audit record to a bucket:
// the write the two bbolt benchmarks commit.
func putRecord(tx *bolt.Tx) error {
	bk, err := tx.CreateBucketIfNotExists([]byte("audit"))
	if err != nil {
		return err
	}
	seq, _ := bk.NextSequence()
	key := make([]byte, 8)
	binary.BigEndian.PutUint64(key, seq)
	return bk.Put(key, benchRecord)
}

var benchRecord = bytes.Repeat([]byte("x"), 330)

func openBolt(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bolt.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// benchBoltBatch commits b.N records from 64 goroutines through bbolt's
// db.Batch, at its default settings.
func benchBoltBatch(b *testing.B) {
	db := openBolt(b)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := db.Batch(putRecord); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// benchBoltCommit commits one record per transaction from one writer, as
// fast as the disk allows: how many fsync'd bbolt commits this disk does
// a second, each of which a group commit shares among the writes queued
// meanwhile. (db.Batch above waits up to its MaxBatchDelay, 10 ms by
// default, for a batch to fill, so with 64 writers it commits about 64
// records every 10 ms whatever the disk.) Its commit-p50 and commit-p99
// are the floor of any acknowledgement that waits for its record to be
// on disk: a command's record waits for the commit in progress and then
// its own.
func benchBoltCommit(b *testing.B) {
	db := openBolt(b)
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := db.Update(putRecord); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "commit-p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "commit-p99-µs")
}
