package simulator_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/infrabot/infrabot/simulator"
)

func TestInjectedStatusFailsTheGivenNumberOfCalls(t *testing.T) {
	c := newCloud(t)
	opts := c.serverOpts(t, "flaky")
	c.sim.Inject(simulator.Fault{Method: "POST", Path: "/compute/v2.1/servers", Status: 503, Times: 2})

	for i := range 2 {
		_, err := servers.Create(t.Context(), c.compute, opts, nil).Extract()
		e := httpError(t, err, http.StatusServiceUnavailable)
		body := decode(t, e.Body)
		if got := field(t, body, "serviceUnavailable", "code"); got != 503.0 {
			t.Errorf("try %d: body %s", i, e.Body)
		}
	}
	// Other methods on the same path were never affected.
	if _, err := servers.List(c.compute, nil).AllPages(t.Context()); err != nil {
		t.Errorf("GET during the fault: %v", err)
	}
	c.create(t, opts)
}

func TestInjectedStatusesHaveEachServicesErrorShape(t *testing.T) {
	c := newCloud(t)
	c.sim.Inject(simulator.Fault{Path: "/image/", Status: 500})
	c.sim.Inject(simulator.Fault{Path: "/network/", Status: 409})
	c.sim.Inject(simulator.Fault{Path: "/compute/v2.1/flavors", Status: 401})

	_, err := images.List(c.image, nil).AllPages(t.Context())
	e := httpError(t, err, http.StatusInternalServerError)
	if got := field(t, decode(t, e.Body), "code"); got != "500 Internal Server Error" {
		t.Errorf("glance body %s", e.Body)
	}
	_, err = networks.List(c.network, nil).AllPages(t.Context())
	e = httpError(t, err, http.StatusConflict)
	if got := field(t, decode(t, e.Body), "NeutronError", "type"); got != "HTTPConflict" {
		t.Errorf("neutron body %s", e.Body)
	}
	_, err = flavors.ListDetail(c.compute, nil).AllPages(t.Context())
	e = httpError(t, err, http.StatusUnauthorized)
	if got := field(t, decode(t, e.Body), "error", "title"); got != "Unauthorized" {
		t.Errorf("401 body %s", e.Body)
	}

	c.sim.ClearFaults()
	if _, err := images.List(c.image, nil).AllPages(t.Context()); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
}

// released is a log handler that signals each time the simulator lets go
// of a request it was holding for an injected delay.
type released chan struct{}

func (r released) Enabled(context.Context, slog.Level) bool { return true }
func (r released) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r released) WithGroup(string) slog.Handler            { return r }
func (r released) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message == "caller gave up during injected delay" {
		r <- struct{}{}
	}
	return nil
}

func TestSlowAnswerLetsGoWhenTheCallerGivesUpOrTheSimulatorCloses(t *testing.T) {
	for _, tc := range []struct {
		name, method, body string
		close              bool
	}{
		{"GET, caller gives up", "GET", "", false},
		{"POST with a body, caller gives up", "POST", `{"server": {"name": "x"}}`, false},
		{"GET, Close", "GET", "", true},
		{"POST with a body, Close", "POST", `{"server": {"name": "x"}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			let := make(released, 1)
			sim := simulator.New(simulator.Options{Logger: slog.New(let)})
			if err := sim.Start("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sim.Close() })
			sim.Inject(simulator.Fault{Path: "/compute/v2.1/servers", Delay: time.Hour, Times: 1})

			ctx, hangUp := context.WithCancel(t.Context())
			defer hangUp()
			req, err := http.NewRequestWithContext(ctx, tc.method, sim.URL()+"/compute/v2.1/servers", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			// The fault is used up once the request is held by it.
			held := waitFor(t.Context(), func() bool {
				_, _, body := do(t, "GET", sim.URL()+"/_sim/faults", "", nil)
				return len(field(t, decode(t, body), "faults").([]any)) == 0
			})
			if !held {
				t.Fatal("the request never reached the fault")
			}
			if !tc.close {
				hangUp()
			} else if err := sim.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := <-errc; err == nil {
				t.Error("the call was answered; want it cut off")
			}
			select {
			case <-let:
			case <-time.After(5 * time.Second):
				t.Fatal("the simulator still holds the request")
			}
		})
	}
}

func TestDelayOnlyFaultAnswersNormally(t *testing.T) {
	c := newCloud(t)
	c.sim.Inject(simulator.Fault{Path: "/compute/v2.1/flavors", Delay: time.Millisecond, Times: 1})
	pages, err := flavors.ListDetail(c.compute, nil).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := flavors.ExtractFlavors(pages); len(all) != 5 {
		t.Errorf("flavors %v", all)
	}
}

func TestQuotaExceededIsNovasForbidden(t *testing.T) {
	c := newCloud(t)
	c.sim.SetInstanceQuota(2)
	opts := c.serverOpts(t, "q")
	c.create(t, opts)
	c.create(t, opts)

	_, err := servers.Create(t.Context(), c.compute, opts, nil).Extract()
	e := httpError(t, err, http.StatusForbidden)
	want := "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
	if got := field(t, decode(t, e.Body), "forbidden", "message"); got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestQuotaIsSetThroughNovasAPI(t *testing.T) {
	c := newCloud(t)
	project := c.projectID(t)
	qs, err := quotasets.Get(t.Context(), c.compute, project).Extract()
	if err != nil || qs.Instances != 10 {
		t.Fatalf("default quota %+v, %v; want 10 instances", qs, err)
	}
	one := 1
	if _, err := quotasets.Update(t.Context(), c.compute, project, quotasets.UpdateOpts{Instances: &one}).Extract(); err != nil {
		t.Fatalf("update: %v", err)
	}
	opts := c.serverOpts(t, "only")
	s := c.create(t, opts)
	_, err = servers.Create(t.Context(), c.compute, opts, nil).Extract()
	httpError(t, err, http.StatusForbidden)

	// Deleting frees the quota only once the server is gone.
	if err := servers.Delete(t.Context(), c.compute, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	_, err = servers.Create(t.Context(), c.compute, opts, nil).Extract()
	httpError(t, err, http.StatusForbidden)
	c.clock.Advance(deleteDelay)
	c.create(t, opts)

	detail, err := quotasets.GetDetail(t.Context(), c.compute, project).Extract()
	if err != nil || detail.Instances.InUse != 1 || detail.Instances.Limit != 1 {
		t.Errorf("detail %+v, %v", detail.Instances, err)
	}
	zero := 0
	_, err = quotasets.Update(t.Context(), c.compute, project, quotasets.UpdateOpts{Instances: &zero}).Extract()
	httpError(t, err, http.StatusBadRequest)
}

func (c *cloud) projectID(t *testing.T) string {
	t.Helper()
	status, _, body := do(t, "GET", c.sim.AuthURL()+"/auth/tokens", c.token(), nil, "X-Subject-Token", c.token())
	if status != http.StatusOK {
		t.Fatalf("token validation: %d", status)
	}
	return field(t, decode(t, body), "token", "project", "id").(string)
}

func TestImpossibleFlavorEndsInNoValidHost(t *testing.T) {
	c := newCloud(t)
	opts := c.serverOpts(t, "huge")
	opts.FlavorRef = c.flavorID(t, "x1.impossible")
	s := c.create(t, opts)
	if got := c.get(t, s.ID); got.Status != "BUILD" || got.Fault.Message != "" {
		t.Errorf("first: status %s, fault %+v", got.Status, got.Fault)
	}
	c.clock.Advance(buildDelay)
	got := c.get(t, s.ID)
	if got.Status != "ERROR" || got.VmState != "error" {
		t.Fatalf("status %s, vm %s; want ERROR", got.Status, got.VmState)
	}
	if got.Fault.Code != 500 || got.Fault.Message != "No valid host was found. " {
		t.Errorf("fault %+v", got.Fault)
	}
	if !got.Fault.Created.Equal(c.clock.Now()) || got.HostID != "" || len(got.Addresses) != 0 {
		t.Errorf("fault created %v (now %v), hostId %q, addresses %v", got.Fault.Created, c.clock.Now(), got.HostID, got.Addresses)
	}
}

func TestFailBuildAndStickInBuild(t *testing.T) {
	c := newCloud(t)
	c.sim.FailBuild("bad-", "Build of instance aborted: disk on fire")
	c.sim.StickInBuild("slow-")
	bad := c.create(t, c.serverOpts(t, "bad-1"))
	slow := c.create(t, c.serverOpts(t, "slow-1"))
	fine := c.create(t, c.serverOpts(t, "good-1"))
	c.sim.ClearFaults() // rules bind at creation; clearing changes nothing for these
	c.clock.Advance(100 * buildDelay)

	if got := c.get(t, bad.ID); got.Status != "ERROR" || got.Fault.Message != "Build of instance aborted: disk on fire" {
		t.Errorf("bad-1: status %s, fault %+v", got.Status, got.Fault)
	}
	if got := c.get(t, slow.ID); got.Status != "BUILD" || got.TaskState != "spawning" {
		t.Errorf("slow-1: status %s, task %q", got.Status, got.TaskState)
	}
	if got := c.get(t, fine.ID); got.Status != "ACTIVE" {
		t.Errorf("good-1: status %s", got.Status)
	}
	again := c.create(t, c.serverOpts(t, "slow-2"))
	c.clock.Advance(buildDelay)
	if got := c.get(t, again.ID); got.Status != "ACTIVE" {
		t.Errorf("slow-2 after ClearFaults: status %s", got.Status)
	}
}

func TestControlAPIOverHTTP(t *testing.T) {
	c := newCloud(t)
	url := c.sim.URL() + "/_sim/"
	post := func(path, body string, want int) {
		t.Helper()
		if status, _, out := do(t, "POST", url+path, "", body); status != want {
			t.Fatalf("POST %s %s: %d %s, want %d", path, body, status, out, want)
		}
	}
	post("faults", `{"method": "GET", "path": "/image/v2/images", "status": 502, "times": 1}`, http.StatusCreated)
	post("stick", `{"prefix": "stuck-"}`, http.StatusNoContent)
	post("fail-build", `{"prefix": "bad-", "message": "no disk"}`, http.StatusNoContent)
	post("quota", `{"instances": 2}`, http.StatusNoContent)
	post("faults", `{"path": "/x", "status": 200}`, http.StatusBadRequest)
	post("faults", `{"path": "/x", "delay": "soon"}`, http.StatusBadRequest)
	post("faults", `{"path": "/x", "bogus": 1}`, http.StatusBadRequest)
	post("stick", `not json`, http.StatusBadRequest)

	status, _, body := do(t, "GET", url+"faults", "", nil)
	state := decode(t, body)
	if status != http.StatusOK || field(t, state, "instance_quota") != 2.0 || len(field(t, state, "faults").([]any)) != 1 {
		t.Errorf("state %s", body)
	}

	_, err := images.List(c.image, nil).AllPages(t.Context())
	httpError(t, err, http.StatusBadGateway)
	stuck := c.create(t, c.serverOpts(t, "stuck-1"))
	bad := c.create(t, c.serverOpts(t, "bad-1"))
	_, err = servers.Create(t.Context(), c.compute, c.serverOpts(t, "third"), nil).Extract()
	httpError(t, err, http.StatusForbidden)
	c.clock.Advance(10 * buildDelay)
	if got := c.get(t, stuck.ID); got.Status != "BUILD" {
		t.Errorf("stuck-1: %s", got.Status)
	}
	if got := c.get(t, bad.ID); got.Status != "ERROR" || got.Fault.Message != "no disk" {
		t.Errorf("bad-1: %s %+v", got.Status, got.Fault)
	}

	if status, _, _ := do(t, "DELETE", url+"faults", "", nil); status != http.StatusNoContent {
		t.Errorf("DELETE faults: %d", status)
	}
	_, _, body = do(t, "GET", url+"faults", "", nil)
	if state := decode(t, body); len(field(t, state, "stick").([]any)) != 0 {
		t.Errorf("after clearing: %s", body)
	}
}

func TestConcurrentCreates(t *testing.T) {
	c := newCloud(t)
	c.sim.SetInstanceQuota(-1)
	opts := c.serverOpts(t, "")
	const n = 20
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opts
			o.Name = fmt.Sprintf("par-%02d", i)
			s, err := servers.Create(t.Context(), c.compute, o, nil).Extract()
			if err != nil {
				t.Errorf("create %s: %v", o.Name, err)
				return
			}
			ids <- s.ID
		}()
	}
	wg.Wait()
	close(ids)
	c.clock.Advance(buildDelay)

	seenIP := map[string]string{}
	count := 0
	for id := range ids {
		count++
		s := c.get(t, id)
		if s.Status != "ACTIVE" {
			t.Errorf("%s: %s", s.Name, s.Status)
		}
		addr := s.Addresses["private"].([]any)[0].(map[string]any)["addr"].(string)
		if other, dup := seenIP[addr]; dup {
			t.Errorf("%s and %s share %s", s.Name, other, addr)
		}
		seenIP[addr] = s.Name
	}
	if count != n {
		t.Errorf("%d of %d creates succeeded", count, n)
	}
}

func TestConcurrentCreatesRespectTheQuota(t *testing.T) {
	c := newCloud(t)
	opts := c.serverOpts(t, "race")
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[int]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := servers.Create(t.Context(), c.compute, opts, nil).Extract()
			status := http.StatusAccepted
			var e gophercloud.ErrUnexpectedResponseCode
			if errors.As(err, &e) {
				status = e.Actual
			} else if err != nil {
				t.Errorf("create: %v", err)
			}
			mu.Lock()
			results[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if results[http.StatusAccepted] != 10 || results[http.StatusForbidden] != 10 {
		t.Errorf("results by status %v, want 10 accepted and 10 forbidden", results)
	}
}

func TestControlPathsAreNeverFaulted(t *testing.T) {
	c := newCloud(t)
	c.sim.Inject(simulator.Fault{Path: "/", Status: 503})
	if status, _, body := do(t, "GET", c.sim.URL()+"/_sim/faults", "", nil); status != http.StatusOK || !strings.Contains(string(body), `"status":503`) {
		t.Errorf("control API under a catch-all fault: %d %s", status, body)
	}
}

func TestACallerThatStopsReadingHoldsUpNoOne(t *testing.T) {
	c := newCloud(t)
	c.sim.SetInstanceQuota(-1)
	opts := c.serverOpts(t, "big")
	opts.Metadata = map[string]string{}
	for i := range 128 {
		opts.Metadata[fmt.Sprintf("key-%03d", i)] = strings.Repeat("x", 255)
	}
	opts.Min, opts.Max = 200, 200
	c.create(t, opts)
	// About 8 MB of servers/detail, asked for and not read past its first
	// bytes.
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.sim.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /compute/v2.1/servers/detail HTTP/1.1\r\nHost: sim\r\nX-Auth-Token: %s\r\n\r\n", c.token())
	if _, err := conn.Read(make([]byte, 16)); err != nil {
		t.Fatalf("reading the start of the answer: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := flavors.ListDetail(c.compute, nil).AllPages(ctx); err != nil {
		t.Fatalf("another caller: %v", err)
	}
}

func TestLimitsShowNovasDefaultsAndTheInstanceQuota(t *testing.T) {
	c := newCloud(t)
	c.sim.SetInstanceQuota(3)
	c.create(t, c.serverOpts(t, "one"))
	got, err := limits.Get(t.Context(), c.compute, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	want := limits.Absolute{
		MaxTotalCores: 20, MaxImageMeta: 128, MaxServerMeta: 128, MaxPersonality: 5,
		MaxPersonalitySize: 10240, MaxTotalKeypairs: 100, MaxSecurityGroups: 10,
		MaxSecurityGroupRules: 20, MaxServerGroups: 10, MaxServerGroupMembers: 10,
		MaxTotalFloatingIps: 10, MaxTotalInstances: 3, MaxTotalRAMSize: 51200,
		TotalCoresUsed: 1, TotalInstancesUsed: 1, TotalRAMUsed: 2048,
	}
	if got.Absolute != want {
		t.Errorf("absolute limits\n got %+v\nwant %+v", got.Absolute, want)
	}
}
