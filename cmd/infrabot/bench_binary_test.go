package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
	"github.com/infrabot/infrabot/storage"
)

// BenchmarkSlashCommandsBinary sends the same signed whoami commands as
// BenchmarkSlashCommands to the built binary, `infrabot run` in a
// process of its own, as a load test from outside would: the benchmark
// process is only the load generator (and the fake Slack Web API, which
// inline answers leave idle). Built without the race detector, once.
// Three rounds of closed loops (64 and 256 clients) and of 1,000/s; each command's answer is
// its reply, so an answer is an executed command; after the process has
// stopped, its store must hold one audit record per accepted command.
func BenchmarkSlashCommandsBinary(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "infrabot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("building infrabot: %v\n%s", err, out)
	}
	for range benchRounds {
		b.Run("infrabot", func(b *testing.B) { benchBinary(b, bin, 0, benchClients) })
		b.Run(fmt.Sprintf("infrabot-%d-clients", manyClients), func(b *testing.B) { benchBinary(b, bin, 0, manyClients) })
		b.Run(fmt.Sprintf("infrabot-%d-per-s", steadyRate), func(b *testing.B) { benchBinary(b, bin, steadyRate, 0) })
	}
}

func benchBinary(b *testing.B, bin string, rate float64, clients int) {
	dir := b.TempDir()
	fake := slacktest.NewServer(b, benchToken)
	listen := actionstest.FreeAddr(b)
	// The admin endpoints on a port of their own, as a service has them.
	path := writeBenchConfig(b, dir, fake.APIURL(), listen, fmt.Sprintf("admin: {listen: %q}\n", actionstest.FreeAddr(b)))
	logs := &actionstest.Buffer{}
	cmd := exec.Command(bin, "run", "--config", path)
	cmd.Env = append(os.Environ(), "INFRABOT_BENCH_SIGNING="+benchSecret, "INFRABOT_BENCH_TOKEN="+benchToken)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	actionstest.WaitListening(b, listen)

	slack := &slacktest.App{URL: "http://" + listen, Secret: benchSecret}
	reqs := make([]*slacktest.Request, b.N)
	for i := range reqs {
		reqs[i] = slack.CommandRequest(fmt.Sprintf("U%07d", i%benchPeople), fmt.Sprintf("C%07d", i%benchChannels), "whoami")
	}
	self := cpuTime(b)
	b.ResetTimer()
	res := load(b, slack.URL, reqs, rate, clients)
	b.StopTimer()
	generator := cpuTime(b) - self

	// Stopped as an operator stops it: SIGTERM, the queued commands run,
	// the store closed.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			b.Fatalf("infrabot run: %v\n%s", err, logs.String())
		}
	case <-time.After(time.Minute):
		b.Fatalf("infrabot run did not stop within a minute of SIGTERM\n%s", logs.String())
	}
	accepted := b.N - res.busy
	db, err := storage.Open(filepath.Join(dir, "infrabot.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	audited, err := db.VerifyAudit(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if audited != uint64(accepted) {
		b.Fatalf("%d commands accepted, %d audited", accepted, audited)
	}
	if res.answered != accepted {
		// The rest were acknowledged empty and ran after: not counted
		// as executed within the run's time.
		b.Logf("%d of %d accepted commands were answered with their reply", res.answered, accepted)
	}
	b.ReportMetric(float64(res.answered)/res.elapsed.Seconds(), "executed/s")
	b.ReportMetric(float64(b.N)/res.elapsed.Seconds(), "req/s")
	b.ReportMetric(100*float64(res.busy)/float64(b.N), "busy-%")
	// CPU per request, of infrabot's process over its whole life (start
	// and stop are a few ms of it) and of the load generator's.
	ps := cmd.ProcessState
	b.ReportMetric(float64((ps.UserTime()+ps.SystemTime()).Microseconds())/float64(b.N), "infrabot-cpu-µs/req")
	b.ReportMetric(float64(generator.Microseconds())/float64(b.N), "generator-cpu-µs/req")
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		b.ReportMetric(float64(ru.Maxrss)/1024, "infrabot-max-rss-MiB") // Linux counts KiB
	}
	res.report(b)
}

// cpuTime is the CPU this process has used so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
