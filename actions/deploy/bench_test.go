package deploy_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/deploy"
	"github.com/infrabot/infrabot/actions/ssh/sshtest"
)

// printingRemote is a host whose command prints lines as fast as the
// module takes them, sampling the live heap as it goes.
type printingRemote struct {
	lines    int
	peakHeap uint64
}

func (p *printingRemote) Run(ctx context.Context, host, cmd string, out func(string)) error {
	for i := 1; i <= p.lines; i++ {
		out(fmt.Sprintf("TASK [role : step] ok: [%s] => line %d of a long playbook run", host, i))
		if i%(p.lines/10) == 0 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			p.peakHeap = max(p.peakHeap, m.HeapAlloc)
		}
	}
	return ctx.Err()
}

// BenchmarkDeployOutput runs a deploy whose command prints n lines,
// through the engine and a real bbolt store, and reports what it costs:
// the live heap at its highest while the lines flow (flat: the log keeps
// a step's head and tail, batches are bounded), the events and bytes the
// run's log holds, and the store's file.
//
//	go test -run '^$' -bench DeployOutput -benchmem ./actions/deploy/
func BenchmarkDeployOutput(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(strconv.Itoa(n)+"-lines", func(b *testing.B) {
			benchDeploy(b, &printingRemote{lines: n}, "web-1")
		})
	}
	b.Run("100000-lines-real-sshd", func(b *testing.B) {
		d := sshtest.StartSSHD(b, sshtest.SSHDOptions{})
		benchDeployCmd(b, nil, d, "seq 1 100000")
	})
}

func benchDeploy(b *testing.B, r *printingRemote, host string) {
	benchDeployCmd(b, r, nil, "playbook")
	b.ReportMetric(float64(r.peakHeap)/(1<<20), "peak-heap-MB")
}

func benchDeployCmd(b *testing.B, pr *printingRemote, d *sshtest.SSHD, cmd string) {
	b.ReportAllocs()
	var events, logBytes int
	var size int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := newBenchStory(b, pr, d, cmd)
		b.StartTimer()
		s.Expect(s.As("bob", "deploy staging"), false, "run 1 started")
		s.Engine.Wait()
		b.StopTimer()
		r := s.Run(1)
		if r.State != actions.Succeeded {
			b.Fatalf("run 1 %s: %s", r.State, r.Error)
		}
		evs, err := s.DB.RunEvents(context.Background(), 1, 0, 0)
		if err != nil {
			b.Fatal(err)
		}
		events, logBytes = len(evs), 0
		for _, ev := range evs {
			for _, l := range ev.Lines {
				logBytes += len(l)
			}
		}
		s.Close()
		st, err := os.Stat(s.Path)
		if err != nil {
			b.Fatal(err)
		}
		size = st.Size()
		b.StartTimer()
	}
	b.ReportMetric(float64(events), "log-events")
	b.ReportMetric(float64(logBytes)/1024, "log-KB")
	b.ReportMetric(float64(size)/1024, "store-KB")
}

func newBenchStory(b *testing.B, pr *printingRemote, d *sshtest.SSHD, cmd string) *actionstest.World {
	c, err := deploy.ParseCommand(cmd)
	if err != nil {
		b.Fatal(err)
	}
	inv := &inventory{}
	addr := "web-1"
	var remote deploy.Remote = pr
	if d != nil {
		addr = d.Addr
	}
	inv.set("staging", server("staging", "web-1", addr))
	return actionstest.New(b, actionstest.Options{Setup: func(w *actionstest.World) {
		h, err := w.Engine.Module(deploy.Name)
		if err != nil {
			b.Fatal(err)
		}
		if d != nil {
			remote = benchSSHDRemote(b, d)
		}
		deploy.New(h, []deploy.Environment{{Name: "staging", Servers: []string{"web"},
			Targets: map[string][]deploy.Step{"default": {{Command: c, On: "all", Timeout: time.Minute}}}}},
			deploy.Options{Remotes: map[string]deploy.Remote{"staging": remote}, Inventory: inv.list})
	}})
}

func benchSSHDRemote(b *testing.B, d *sshtest.SSHD) deploy.Remote {
	return sshdRemote(b, d.User, d.Client, "", d.KnownHostsLine())
}
