package health_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/schedule"
	"github.com/infrabot/infrabot/storage"
)

// TestBenchTarget is not a test: the benchmarks start the test binary
// again with HEALTH_BENCH_TARGET set, to serve as the loopback target in a
// process of its own, so that its CPU and memory are not counted as
// infrabot's. It answers "ok" after HEALTH_BENCH_DELAY, and stops when its
// standard input closes.
func TestBenchTarget(t *testing.T) {
	if os.Getenv("HEALTH_BENCH_TARGET") == "" {
		t.Skip("only the health benchmarks run this, as their target")
	}
	delay, _ := time.ParseDuration(os.Getenv("HEALTH_BENCH_DELAY"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Write([]byte("ok\n"))
	}))
	fmt.Println(ln.Addr().String())
	bufio.NewReader(os.Stdin).ReadString('\n') // until the benchmark ends
}

func startTarget(b *testing.B, delay time.Duration) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchTarget$")
	cmd.Env = append(os.Environ(), "HEALTH_BENCH_TARGET=1", "HEALTH_BENCH_DELAY="+delay.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(addr)
}

// BenchmarkChecks5000Every10s runs 5,000 HTTP checks every 10 s against
// one loopback server (in another process) for three intervals, with the
// real scheduler, store and clock, and reports infrabot's CPU seconds per
// 1,000 checks, its peak resident memory, and how late checks started
// against their schedule (slot plus jitter). It runs for a fixed time
// whatever b.N is: run it with -benchtime 1x.
func BenchmarkChecks5000Every10s(b *testing.B) { benchChecks(b, 5000, 10*time.Second, 0) }

// BenchmarkChecks5000Every10sSlowTargets is the same with every answer
// 50 ms late: the schedule must hold.
func BenchmarkChecks5000Every10sSlowTargets(b *testing.B) {
	benchChecks(b, 5000, 10*time.Second, 50*time.Millisecond)
}

func benchChecks(b *testing.B, n int, every, delay time.Duration) {
	rounds := 3
	if s := os.Getenv("HEALTH_BENCH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	addr := startTarget(b, delay)
	db, err := storage.Open(filepath.Join(b.TempDir(), "infrabot.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	sched := schedule.New(schedule.Options{LastRuns: db})
	engine := actions.NewEngine(actions.Options{
		Policy: actions.NewPolicy(nil, nil, nil), Runs: db, Locks: db, Audit: db, Stores: db, Scheduler: sched,
	})
	h, err := engine.Module(health.Name, health.Buckets...)
	if err != nil {
		b.Fatal(err)
	}
	checks := make([]health.Check, n)
	for i := range checks {
		checks[i] = health.Check{
			Name: fmt.Sprintf("web-%05d", i), Kind: health.HTTP, URL: fmt.Sprintf("http://%s/health/%d", addr, i),
			Schedule: fmt.Sprintf("@every %s", every), Expect: health.Expect{BodyContains: "ok"},
		}
	}
	var mu sync.Mutex
	var lags []time.Duration
	failed := 0
	mod, err := health.New(h, checks, health.Options{
		Parse:     func(spec, tz string) (health.Schedule, error) { return schedule.Parse(spec, tz) },
		Lookahead: 2 * time.Second, // as the wiring sets it
		OnResult: func(check string, r health.Result) {
			mu.Lock()
			lags = append(lags, r.Time.Sub(r.Due))
			if !r.OK {
				failed++
			}
			mu.Unlock()
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	if err := sched.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Duration(rounds) * every)
	sched.Close()
	mod.Close()
	b.StopTimer()
	cpu := cpuTime() - cpu0
	engine.Close()

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lags)
	q := func(p float64) time.Duration { return lags[int(p*float64(len(lags)-1))] }
	if len(lags) == 0 {
		b.Fatal("no check ran")
	}
	b.ReportMetric(float64(len(lags)), "checks")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(cpu.Seconds()/float64(len(lags))*1000, "cpu-s/1000checks")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(q(0.5).Microseconds())/1000, "lag-p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "lag-p99-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "lag-max-ms")
	b.ReportMetric(float64(len(lags))/time.Since(start).Seconds(), "checks/s")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the process's peak resident memory in bytes (Linux's VmHWM).
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
