package ssh_test

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/ssh"
	"github.com/infrabot/infrabot/actions/ssh/sshtest"
)

// BenchmarkOutputLines runs a command printing n lines through the
// adapter and reports the peak heap seen while it ran: it stays flat
// however many lines the command prints, since lines are handed over one
// by one and never collected. Against the in-process server, and against
// a real sshd when one is installed.
func BenchmarkOutputLines(b *testing.B) {
	key := sshtest.NewKey(b)
	inproc := sshtest.NewServer(b, key)
	targets := []struct {
		name, addr, user string
		key              sshtest.Key
		known            string
	}{{"inprocess", inproc.Addr, "test", key, inproc.HostKey().KnownHostsLine(inproc.Addr)}}
	if d := startSSHDForBench(b); d != nil {
		targets = append(targets, struct {
			name, addr, user string
			key              sshtest.Key
			known            string
		}{"sshd", d.Addr, d.User, d.Client, d.KnownHostsLine()})
	}
	for _, tg := range targets {
		r, err := ssh.New(ssh.Config{User: tg.user, PrivateKey: tg.key.PEM, KnownHosts: []string{sshtest.WriteKnownHosts(b, tg.known)}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		for _, n := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%d", tg.name, n), func(b *testing.B) {
				cmd := fmt.Sprintf("yes 'TASK [webserver : restart httpd] ok: [staging-logserver-1]' | head -n %d", n)
				var peak atomic.Uint64
				stop := make(chan struct{})
				done := make(chan struct{})
				runtime.GC()
				go func() {
					defer close(done)
					var ms runtime.MemStats
					for {
						runtime.ReadMemStats(&ms)
						if ms.HeapInuse > peak.Load() {
							peak.Store(ms.HeapInuse)
						}
						select {
						case <-stop:
							return
						case <-time.After(5 * time.Millisecond):
						}
					}
				}()
				b.ResetTimer()
				for b.Loop() {
					lines := 0
					if err := r.Run(b.Context(), tg.addr, cmd, func(string) { lines++ }); err != nil {
						b.Fatal(err)
					}
					if lines != n {
						b.Fatalf("%d lines, want %d", lines, n)
					}
				}
				b.StopTimer()
				close(stop)
				<-done
				b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/line")
			})
		}
	}
}

func startSSHDForBench(b *testing.B) *sshtest.SSHD {
	if _, err := os.Stat(sshtest.SSHDPath); err != nil {
		return nil
	}
	return sshtest.StartSSHD(b, sshtest.SSHDOptions{})
}
