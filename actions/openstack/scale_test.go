package openstack_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/openstack"
	"github.com/infrabot/infrabot/simulator"
)

// owned marks a server as infrabot's, of the environment "scale".
var owned = map[string]string{actions.MetaManaged: "true", actions.MetaEnv: "scale"}

func TestLimitsAndFlavors(t *testing.T) {
	t.Parallel()
	sim := simulator.New(simulator.Options{BuildDelay: 50 * time.Millisecond, Quotas: map[string]int{"instances": 30, "cores": 40}})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	c := newSimCloud(t, simAuth(sim))
	ctx := context.Background()
	f, err := c.Flavor(ctx, "m1.medium")
	if err != nil || f.VCPUs != 2 || f.RAMMB != 4096 {
		t.Fatalf("m1.medium = %+v, %v; want 2 vCPUs and 4096 MB", f, err)
	}
	if _, err := c.Flavor(ctx, "m9.huge"); actions.ErrorKind(err) != actions.Invalid {
		t.Errorf("unknown flavor: %v, want invalid", err)
	}
	s, err := c.Create(ctx, actions.ServerSpec{Name: "limits-1", Flavor: "m1.medium", Image: simulator.ImageCirros, Networks: []string{"private"}, Metadata: owned})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Delete(context.Background(), s.ID) })
	l, err := c.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := actions.Limits{
		Instances: actions.Usage{Max: 30, Used: 1},
		Cores:     actions.Usage{Max: 40, Used: 2},
		RAMMB:     actions.Usage{Max: 51200, Used: 4096},
	}
	if l != want {
		t.Errorf("limits = %+v, want %+v (ports unknown: the simulator has no Neutron quotas)", l, want)
	}
}

// inFlight is a transport that counts the requests in flight at once.
type inFlight struct {
	next     http.RoundTripper
	now, max atomic.Int64
}

func (f *inFlight) RoundTrip(r *http.Request) (*http.Response, error) {
	n := f.now.Add(1)
	defer f.now.Add(-1)
	for m := f.max.Load(); n > m && !f.max.CompareAndSwap(m, n); m = f.max.Load() {
	}
	return f.next.RoundTrip(r)
}

func TestParallelBoundsRequestsInFlight(t *testing.T) {
	t.Parallel()
	sim := startSim(t)
	sim.SetInstanceQuota(-1)
	// Every create is held a while, so that they would all be in flight
	// at once if nothing held them back.
	sim.Inject(simulator.Fault{Method: "POST", Path: "/compute/v2.1/servers", Delay: 30 * time.Millisecond})
	counter := &inFlight{next: http.DefaultTransport}
	opts := fastPolls
	opts.Parallel = 3
	opts.HTTPClient = &http.Client{Transport: counter, Timeout: time.Minute}
	c, err := openstack.New(context.Background(), simAuth(sim), opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Create(context.Background(), actions.ServerSpec{Name: fmt.Sprintf("par-%d", i), Flavor: "m1.tiny", Image: simulator.ImageCirros, Networks: []string{"private"}, Metadata: owned}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if m := counter.max.Load(); m > 3 || m < 2 {
		t.Errorf("at most %d requests were in flight at once, want 3 (parallel)", m)
	}
}

func TestCreateWaitsOutRateLimits(t *testing.T) {
	t.Parallel()
	sim := startSim(t)
	opts := fastPolls
	opts.SlowDownWait = 5 * time.Millisecond
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := openstack.New(context.Background(), simAuth(sim), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spec := func(name string) actions.ServerSpec {
		return actions.ServerSpec{Name: name, Flavor: "m1.tiny", Image: simulator.ImageCirros, Networks: []string{"private"}, Metadata: owned}
	}

	// Nova's rate limit, twice: the create goes through on the third try.
	sim.Inject(simulator.Fault{Method: "POST", Path: "/compute/v2.1/servers", Status: 429, Times: 2})
	s, err := c.Create(ctx, spec("rate-limited"))
	if err != nil {
		t.Fatalf("create after two 429s: %v", err)
	}
	// An overloaded API that says when to come back: a read is sent again.
	sim.Inject(simulator.Fault{Method: "GET", Path: "/compute/v2.1/servers/" + s.ID, Status: 503, RetryAfter: 1, Times: 1})
	if _, err := c.WaitActive(ctx, s.ID, nil); err != nil {
		t.Fatalf("wait after a 503 with Retry-After: %v", err)
	}
	// A create is not: the 503 may come from a proxy after Nova made the
	// server, so Create says it could not confirm instead.
	sim.Inject(simulator.Fault{Method: "POST", Path: "/compute/v2.1/servers", Status: 503, RetryAfter: 1, Times: 1})
	if _, err := c.Create(ctx, spec("retry-after")); actions.ErrorKind(err) != actions.Unavailable {
		t.Fatalf("create answered 503 with Retry-After: %v, want Unavailable", err)
	}
	if _, err := c.Create(ctx, spec("retry-after")); err != nil {
		t.Fatalf("create after the 503: %v", err)
	}
	// One server per create: none was made twice.
	compute, _, _ := simRaw(t, sim)
	pages, err := servers.List(compute, servers.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := servers.ExtractServers(pages)
	if len(all) != 2 {
		t.Errorf("%d servers, want 2 (one per create)", len(all))
	}

	// A limit that does not lift is given up on, with the cloud's answer.
	sim.Inject(simulator.Fault{Method: "POST", Path: "/compute/v2.1/servers", Status: 429})
	if _, err := c.Create(ctx, spec("never")); err == nil {
		t.Fatal("a create answered 429 every time succeeded")
	}
}

// BenchmarkProvision200 creates 200 servers on the simulator and waits
// for each to be ACTIVE, at 20 at once: through infrabot's provider
// ("infrabot": Create and WaitActive, with its name lookups, pacing and
// backoff) and, in the same run, directly through gophercloud
// ("gophercloud": servers.Create and servers.WaitForStatus, gophercloud's
// own wait). Compare the time/op: the aim is at most 1.2×.
func BenchmarkProvision200(b *testing.B) {
	const n, parallel = 200, 20
	for range 2 { // alternating, so that a busy spell weighs on both
		b.Run("gophercloud", func(b *testing.B) {
			for b.Loop() {
				sim := benchSim(b)
				compute, network, _ := simRaw(b, sim)
				net := networkID(b, network, "private")
				img := imageID(b, compute, simulator.ImageCirros)
				provisionAll(b, n, parallel, func(ctx context.Context, name string) error {
					s, err := servers.Create(ctx, compute, servers.CreateOpts{Name: name, FlavorRef: "1", ImageRef: img,
						Networks: []servers.Network{{UUID: net}}, Metadata: map[string]string{actions.MetaManaged: "true", actions.MetaEnv: "bench"}}, nil).Extract()
					if err != nil {
						return err
					}
					return servers.WaitForStatus(ctx, compute, s.ID, "ACTIVE")
				})
				sim.Close()
			}
		})
		b.Run("infrabot", func(b *testing.B) {
			for b.Loop() {
				sim := benchSim(b)
				opts := openstack.Options{Parallel: parallel}
				c, err := openstack.New(context.Background(), simAuth(sim), opts)
				if err != nil {
					b.Fatal(err)
				}
				provisionAll(b, n, parallel, func(ctx context.Context, name string) error {
					s, err := c.Create(ctx, actions.ServerSpec{Name: name, Flavor: "m1.tiny", Image: simulator.ImageCirros, Networks: []string{"private"},
						Metadata: map[string]string{actions.MetaManaged: "true", actions.MetaEnv: "bench"}})
					if err != nil {
						return err
					}
					_, err = c.WaitActive(ctx, s.ID, nil)
					return err
				})
				sim.Close()
			}
		})
	}
}

func benchSim(b *testing.B) *simulator.Simulator {
	sim := simulator.New(simulator.Options{BuildDelay: 2 * time.Second, Quotas: map[string]int{"instances": -1, "cores": -1, "ram": -1}})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	return sim
}

func imageID(b *testing.B, compute *gophercloud.ServiceClient, name string) string {
	img, err := gopenstack.NewImageV2(compute.ProviderClient, gophercloud.EndpointOpts{})
	if err != nil {
		b.Fatal(err)
	}
	pages, err := images.List(img, images.ListOpts{Name: name}).AllPages(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	all, err := images.ExtractImages(pages)
	if err != nil || len(all) != 1 {
		b.Fatalf("image %s: %v (%d found)", name, err, len(all))
	}
	return all[0].ID
}

// provisionAll runs create for n servers, parallel at once, and fails the
// benchmark on the first error.
func provisionAll(b *testing.B, n, parallel int, create func(ctx context.Context, name string) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := create(ctx, fmt.Sprintf("bench-%03d", i)); err != nil {
				failed.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}
