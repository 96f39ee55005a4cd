package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/infrabot/infrabot/simulator"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cloud is a started simulator on a fake clock and gophercloud clients for
// it, logged in as the default admin.
type cloud struct {
	sim      *simulator.Simulator
	clock    *fakeClock
	opts     simulator.Options
	provider *gophercloud.ProviderClient
	compute  *gophercloud.ServiceClient
	image    *gophercloud.ServiceClient
	network  *gophercloud.ServiceClient
}

const (
	buildDelay  = 3 * time.Second
	deleteDelay = 2 * time.Second
)

func newCloud(t *testing.T) *cloud {
	t.Helper()
	opts := simulator.Options{BuildDelay: buildDelay, DeleteDelay: deleteDelay}
	sim := simulator.New(opts)
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	simulator.SetClock(sim, clock.Now)
	return connect(t, sim, clock, opts)
}

func connect(t *testing.T, sim *simulator.Simulator, clock *fakeClock, opts simulator.Options) *cloud {
	t.Helper()
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx := t.Context()
	provider, err := openstack.AuthenticatedClient(ctx, adminAuth(sim))
	if err != nil {
		t.Fatalf("AuthenticatedClient: %v", err)
	}
	c := &cloud{sim: sim, clock: clock, opts: opts, provider: provider}
	if c.compute, err = openstack.NewComputeV2(provider, gophercloud.EndpointOpts{}); err != nil {
		t.Fatalf("NewComputeV2: %v", err)
	}
	if c.image, err = openstack.NewImageV2(provider, gophercloud.EndpointOpts{}); err != nil {
		t.Fatalf("NewImageV2: %v", err)
	}
	if c.network, err = openstack.NewNetworkV2(provider, gophercloud.EndpointOpts{}); err != nil {
		t.Fatalf("NewNetworkV2: %v", err)
	}
	return c
}

func adminAuth(sim *simulator.Simulator) gophercloud.AuthOptions {
	return gophercloud.AuthOptions{
		IdentityEndpoint: sim.AuthURL(),
		Username:         "admin",
		Password:         "admin",
		TenantName:       "admin",
		DomainName:       "Default",
	}
}

func (c *cloud) flavorID(t *testing.T, name string) string {
	t.Helper()
	pages, err := flavors.ListDetail(c.compute, nil).AllPages(t.Context())
	if err != nil {
		t.Fatalf("list flavors: %v", err)
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		t.Fatalf("extract flavors: %v", err)
	}
	for _, f := range all {
		if f.Name == name {
			return f.ID
		}
	}
	t.Fatalf("no flavor %q", name)
	return ""
}

func (c *cloud) imageID(t *testing.T, name string) string {
	t.Helper()
	pages, err := images.List(c.image, images.ListOpts{Name: name}).AllPages(t.Context())
	if err != nil {
		t.Fatalf("list images: %v", err)
	}
	all, err := images.ExtractImages(pages)
	if err != nil || len(all) != 1 {
		t.Fatalf("images named %q: %v, %v", name, all, err)
	}
	return all[0].ID
}

func (c *cloud) networkID(t *testing.T, name string) string {
	t.Helper()
	pages, err := networks.List(c.network, networks.ListOpts{Name: name}).AllPages(t.Context())
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	all, err := networks.ExtractNetworks(pages)
	if err != nil || len(all) != 1 {
		t.Fatalf("networks named %q: %v, %v", name, all, err)
	}
	return all[0].ID
}

// serverOpts are create options for a small CentOS server on the private
// network.
func (c *cloud) serverOpts(t *testing.T, name string) servers.CreateOpts {
	return servers.CreateOpts{
		Name:      name,
		FlavorRef: c.flavorID(t, "m1.small"),
		ImageRef:  c.imageID(t, "centos-stream-9"),
		Networks:  []servers.Network{{UUID: c.networkID(t, "private")}},
	}
}

func (c *cloud) create(t *testing.T, opts servers.CreateOptsBuilder) *servers.Server {
	t.Helper()
	s, err := servers.Create(t.Context(), c.compute, opts, nil).Extract()
	if err != nil {
		t.Fatalf("create %v: %v", opts, err)
	}
	return s
}

func (c *cloud) get(t *testing.T, id string) *servers.Server {
	t.Helper()
	s, err := servers.Get(t.Context(), c.compute, id).Extract()
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return s
}

// httpError returns err as gophercloud's unexpected-status error, failing
// the test unless it is one with the wanted status.
func httpError(t *testing.T, err error, status int) gophercloud.ErrUnexpectedResponseCode {
	t.Helper()
	var e gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an ErrUnexpectedResponseCode", err, err)
	}
	if e.Actual != status {
		t.Fatalf("status %d, want %d; body %s", e.Actual, status, e.Body)
	}
	return e
}

// decode parses a JSON body, failing the test if it is not JSON.
func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	return m
}

// field walks nested JSON objects.
func field(t *testing.T, m map[string]any, path ...string) any {
	t.Helper()
	var v any = m
	for _, p := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v: %q is not inside an object (in %v)", path, p, m)
		}
		if v, ok = obj[p]; !ok {
			t.Fatalf("%v: no %q in %v", path, p, obj)
		}
	}
	return v
}

// do makes a raw HTTP call, for checking what gophercloud hides.
func do(t *testing.T, method, url, token string, body any, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

func (c *cloud) token() string {
	return c.provider.Token()
}

// waitFor polls cond on the real clock until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
}
