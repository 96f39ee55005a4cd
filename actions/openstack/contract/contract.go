// Package contract is the behaviour every actions.Cloud on OpenStack must
// show, written once and run against two clouds: the in-repo simulator
// (in every `make test`) and a real OpenStack (the lane in
// scripts/openstack). When the two disagree, one of them is wrong.
//
// Run takes a Harness: the Cloud under test plus a raw Nova client, used
// behind the Cloud's back to create servers infrabot does not own, to look
// for leaks and to clean up.
package contract

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/infrabot/infrabot/actions"
)

// Harness is what Run needs from a cloud.
type Harness struct {
	// Cloud is the provider under test, already authenticated.
	Cloud actions.Cloud
	// Raw is a Nova client for the same project as Cloud.
	Raw *gophercloud.ServiceClient
	// SetInstanceQuota sets the project's instance quota to n and restores
	// it when the test ends (see NovaInstanceQuota).
	SetInstanceQuota func(t *testing.T, n int)

	// Flavor, Image and Network are the names servers are created with;
	// NetworkID is Network's ID, for servers created through Raw.
	Flavor, Image, Network, NetworkID string
	// ImpossibleFlavor is a flavor no host can fit: servers with it go to
	// ERROR ("No valid host was found").
	ImpossibleFlavor string
	// Prefix starts every environment (and so every server name) a run
	// uses, so that runs do not see each other's servers. See NewPrefix.
	Prefix string
	// Timeout bounds each case; 0 means 2 minutes.
	Timeout time.Duration
}

// NewPrefix returns a short prefix unique to this run, e.g. "ct3fa9c1".
func NewPrefix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "ct" + hex.EncodeToString(b)
}

// NovaInstanceQuota returns a Harness.SetInstanceQuota that changes the
// instance quota of project through Nova's os-quota-sets API with admin (a
// compute client holding an admin token) and restores the previous value
// in t.Cleanup.
func NovaInstanceQuota(admin *gophercloud.ServiceClient, project string) func(t *testing.T, n int) {
	return func(t *testing.T, n int) {
		t.Helper()
		ctx := context.Background()
		old, err := quotasets.Get(ctx, admin, project).Extract()
		if err != nil {
			t.Fatalf("reading the instance quota of %s: %v", project, err)
		}
		if _, err := quotasets.Update(ctx, admin, project, quotasets.UpdateOpts{Instances: &n}).Extract(); err != nil {
			t.Fatalf("setting the instance quota of %s to %d: %v", project, n, err)
		}
		t.Cleanup(func() {
			prev := old.Instances
			if _, err := quotasets.Update(context.Background(), admin, project,
				quotasets.UpdateOpts{Instances: &prev}).Extract(); err != nil {
				t.Errorf("restoring the instance quota of %s to %d: %v", project, prev, err)
			}
		})
	}
}

// Run runs every case of the contract against h, one after the other (the
// quota case changes the whole project's quota).
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 2 * time.Minute
	}
	if h.Prefix == "" {
		h.Prefix = NewPrefix()
	}
	cases := []struct {
		name string
		code string
		run  func(*testing.T, *Harness, context.Context, string)
	}{
		{"Lifecycle", "lc", testLifecycle},
		{"Ownership", "ow", testOwnership},
		{"ErrorFailsFast", "er", testErrorFailsFast},
		{"QuotaExceeded", "qu", testQuotaExceeded},
		{"Cancellation", "ca", testCancellation},
		{"Idempotency", "id", testIdempotency},
		{"UnknownNames", "un", testUnknownNames},
		{"Parallel10", "pa", testParallel10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := h.Prefix + "-" + c.code
			// registered first, so it runs after the case's own cleanups
			t.Cleanup(func() { h.sweep(t, env) })
			ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
			defer cancel()
			c.run(t, &h, ctx, env)
		})
	}
}

// spec is a server of env as the engine would ask for it.
func (h *Harness) spec(env, name string) actions.ServerSpec {
	return actions.ServerSpec{
		Name:     env + "-" + name,
		Flavor:   h.Flavor,
		Image:    h.Image,
		Networks: []string{h.Network},
		Metadata: map[string]string{actions.MetaManaged: "true", actions.MetaEnv: env},
	}
}

// rawServers lists, through Raw, every server of the project whose name
// starts with prefix, owned or not.
func (h *Harness) rawServers(t *testing.T, prefix string) []servers.Server {
	t.Helper()
	pages, err := servers.List(h.Raw, servers.ListOpts{}).AllPages(context.Background())
	if err != nil {
		t.Fatalf("raw list of servers: %v", err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		t.Fatalf("raw list of servers: %v", err)
	}
	var out []servers.Server
	for _, s := range all {
		if strings.HasPrefix(s.Name, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// sweep fails the test if any server whose name starts with env is left,
// and deletes it so the next run starts clean.
func (h *Harness) sweep(t *testing.T, env string) {
	left := h.rawServers(t, env)
	if len(left) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
	defer cancel()
	for _, s := range left {
		t.Errorf("leaked server %s (%s, %s)", s.Name, s.ID, s.Status)
		if err := servers.Delete(ctx, h.Raw, s.ID).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
			t.Errorf("cleaning up %s: %v", s.Name, err)
		}
	}
	for _, s := range left {
		if err := h.Cloud.WaitGone(ctx, s.ID); err != nil {
			t.Errorf("cleaning up %s: %v", s.Name, err)
		}
	}
}

// mustCreate creates spec and registers its deletion, then waits for it
// to be ACTIVE.
func (h *Harness) mustCreateActive(t *testing.T, ctx context.Context, spec actions.ServerSpec) actions.Server {
	t.Helper()
	s, err := h.Cloud.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create(%s): %v", spec.Name, err)
	}
	h.deleteLater(t, s.ID)
	got, err := h.Cloud.WaitActive(ctx, s.ID, nil)
	if err != nil {
		t.Fatalf("WaitActive(%s): %v", spec.Name, err)
	}
	return got
}

// deleteLater deletes the server (through the Cloud) when the test ends,
// and waits for it to be gone.
func (h *Harness) deleteLater(t *testing.T, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
		defer cancel()
		if err := h.Cloud.Delete(ctx, id); err != nil {
			t.Errorf("cleanup Delete(%s): %v", id, err)
			return
		}
		if err := h.Cloud.WaitGone(ctx, id); err != nil {
			t.Errorf("cleanup WaitGone(%s): %v", id, err)
		}
	})
}

func names(list []actions.Server) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Name
	}
	return out
}
