package contract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/infrabot/infrabot/actions"
)

// A server goes BUILD → ACTIVE, is listed with its addresses, is deleted
// and is no longer listed.
func testLifecycle(t *testing.T, h *Harness, ctx context.Context, env string) {
	spec := h.spec(env, "web-1")
	created, err := h.Cloud.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	h.deleteLater(t, created.ID)
	if created.ID == "" || created.Name != spec.Name {
		t.Fatalf("Create returned %+v, want an ID and name %s", created, spec.Name)
	}
	if created.Status != actions.StatusBuild && created.Status != actions.StatusActive {
		t.Errorf("Create returned status %q, want BUILD (or already ACTIVE)", created.Status)
	}

	var seen []string
	s, err := h.Cloud.WaitActive(ctx, created.ID, func(s actions.Server) { seen = append(seen, s.Status) })
	if err != nil {
		t.Fatalf("WaitActive: %v", err)
	}
	if s.Status != actions.StatusActive || len(seen) == 0 || seen[len(seen)-1] != actions.StatusActive {
		t.Errorf("WaitActive: status %q, states seen %v; want ACTIVE last", s.Status, seen)
	}
	if len(s.Addresses) == 0 {
		t.Errorf("ACTIVE server has no addresses: %+v", s)
	}
	if s.Flavor != h.Flavor {
		t.Errorf("server's flavor is %q, want the name %q", s.Flavor, h.Flavor)
	}
	if s.Image == "" || s.Created.IsZero() {
		t.Errorf("server lacks image or creation time: %+v", s)
	}
	if s.Env() != env {
		t.Errorf("server's Env() = %q, want %q (metadata %v)", s.Env(), env, s.Metadata)
	}

	list, err := h.Cloud.Servers(ctx, env)
	if err != nil {
		t.Fatalf("Servers: %v", err)
	}
	if len(list) != 1 || list[0].ID != created.ID {
		t.Fatalf("Servers(%s) = %v, want just %s", env, names(list), spec.Name)
	}
	if l := list[0]; l.Status != actions.StatusActive || len(l.Addresses) == 0 || l.Flavor != h.Flavor {
		t.Errorf("listed server: status %q, addresses %v, flavor %q; want ACTIVE, some, %q",
			l.Status, l.Addresses, l.Flavor, h.Flavor)
	}

	if err := h.Cloud.Delete(ctx, created.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// Nova deletes asynchronously: until the server is gone it is listed,
	// in its last status, with task state "deleting", which is what tells
	// it from a server that stays.
	list, err = h.Cloud.Servers(ctx, env)
	if err != nil {
		t.Fatalf("Servers right after Delete: %v", err)
	}
	for _, s := range list {
		if s.TaskState != actions.TaskDeleting {
			t.Errorf("right after Delete, Servers lists %s in status %s, task state %q; want it gone or %q",
				s.Name, s.Status, s.TaskState, actions.TaskDeleting)
		}
	}
	if err := h.Cloud.WaitGone(ctx, created.ID); err != nil {
		t.Fatalf("WaitGone: %v", err)
	}
	list, err = h.Cloud.Servers(ctx, env)
	if err != nil {
		t.Fatalf("Servers after delete: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("Servers(%s) after delete = %v, want none", env, names(list))
	}
}

// Only servers with infrabot's metadata for the environment are listed;
// a matching name is not enough, and infrabot refuses to delete the rest.
func testOwnership(t *testing.T, h *Harness, ctx context.Context, env string) {
	mine := h.mustCreateActive(t, ctx, h.spec(env, "web-1"))
	// env+"-b" is another environment whose server names also start with env+"-"
	other := env + "-b"
	theirs := h.mustCreateActive(t, ctx, h.spec(other, "web-1"))

	// Flavor and image IDs for raw creates, as Nova reports them.
	raw, err := servers.Get(ctx, h.Raw, mine.ID).Extract()
	if err != nil {
		t.Fatalf("raw get: %v", err)
	}
	flavorID, _ := raw.Flavor["id"].(string)
	imageID, _ := raw.Image["id"].(string)
	strangers := []struct {
		name string
		md   map[string]string
	}{
		{env + "-web-2", nil}, // no metadata at all (first: deleted below)
		{env + "-web-3", map[string]string{actions.MetaEnv: env}},                                    // env but not managed
		{env + "-web-4", map[string]string{actions.MetaManaged: "false", actions.MetaEnv: env}},      // explicitly unmanaged
		{env + "-web-5", map[string]string{actions.MetaManaged: "True", actions.MetaEnv: env}},       // not exactly "true"
		{env + "-web-6", map[string]string{actions.MetaManaged: "true", actions.MetaEnv: env + "x"}}, // another env
	}
	var strangerIDs []string
	for _, st := range strangers {
		name := st.name
		opts := servers.CreateOpts{Name: name, FlavorRef: flavorID, ImageRef: imageID, Metadata: st.md}
		if h.NetworkID != "" {
			opts.Networks = []servers.Network{{UUID: h.NetworkID}}
		}
		s, err := servers.Create(ctx, h.Raw, opts, nil).Extract()
		if err != nil {
			t.Fatalf("raw create of %s: %v", name, err)
		}
		strangerIDs = append(strangerIDs, s.ID)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
			defer cancel()
			if err := servers.Delete(ctx, h.Raw, s.ID).ExtractErr(); err != nil {
				t.Errorf("raw delete of %s: %v", name, err)
			}
			if err := h.Cloud.WaitGone(ctx, s.ID); err != nil {
				t.Errorf("waiting for %s to go: %v", name, err)
			}
		})
	}
	for _, id := range strangerIDs {
		if _, err := h.Cloud.WaitActive(ctx, id, nil); err != nil {
			t.Fatalf("raw server %s did not become ACTIVE: %v", id, err)
		}
	}

	for _, want := range []struct {
		env string
		ids []string
	}{{env, []string{mine.ID}}, {other, []string{theirs.ID}}, {env + "x", nil}} {
		list, err := h.Cloud.Servers(ctx, want.env)
		if err != nil {
			t.Fatalf("Servers(%s): %v", want.env, err)
		}
		var ids []string
		for _, s := range list {
			ids = append(ids, s.ID)
			if s.Env() != want.env {
				t.Errorf("Servers(%s) returned %s with metadata %v", want.env, s.Name, s.Metadata)
			}
		}
		if !slices.Equal(ids, want.ids) {
			t.Errorf("Servers(%s) = %v, want only infrabot's own %v", want.env, names(list), want.ids)
		}
	}

	err = h.Cloud.Delete(ctx, strangerIDs[0])
	if actions.ErrorKind(err) != actions.Permission {
		t.Errorf("Delete of a server infrabot does not own: %v, want a Permission error", err)
	}
	// Nova deletes asynchronously: right after a DELETE the server is still
	// there, in task state "deleting", so existing alone proves nothing.
	if got, err := servers.Get(ctx, h.Raw, strangerIDs[0]).Extract(); err != nil {
		t.Errorf("a server infrabot does not own is gone after Delete: %v", err)
	} else if got.TaskState == "deleting" || got.Status == "DELETED" {
		t.Errorf("Delete started deleting a server infrabot does not own (status %s, task state %s)", got.Status, got.TaskState)
	}
}

// A server that goes to ERROR ends WaitActive at once with Nova's fault,
// and can be deleted.
func testErrorFailsFast(t *testing.T, h *Harness, ctx context.Context, env string) {
	spec := h.spec(env, "big-1")
	spec.Flavor = h.ImpossibleFlavor
	s, err := h.Cloud.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create with %s: %v (Nova accepts it; the scheduler fails it)", h.ImpossibleFlavor, err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = h.Cloud.Delete(context.Background(), s.ID)
		}
	})

	start := time.Now()
	got, err := h.Cloud.WaitActive(ctx, s.ID, nil)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("WaitActive succeeded with flavor %s: %+v", h.ImpossibleFlavor, got)
	}
	msg := actions.ErrorMessage(err)
	if actions.ErrorKind(err) != actions.Unavailable || !strings.Contains(msg, "went to ERROR") ||
		!strings.Contains(msg, "No valid host") || !strings.Contains(msg, spec.Name) {
		t.Errorf("WaitActive error: kind %s, message %q; want Unavailable, naming %s, ERROR and Nova's fault",
			actions.ErrorKind(err), msg, spec.Name)
	}
	if errors.Is(err, context.DeadlineExceeded) || took > h.Timeout/2 {
		t.Errorf("WaitActive took %s and ended with %v: it should return as soon as the server is in ERROR", took, err)
	}
	if got.Status != actions.StatusError || got.Fault == "" {
		t.Errorf("WaitActive returned status %q, fault %q; want ERROR and the fault", got.Status, got.Fault)
	}

	list, err := h.Cloud.Servers(ctx, env)
	if err != nil {
		t.Fatalf("Servers: %v", err)
	}
	if len(list) != 1 || list[0].Status != actions.StatusError || !strings.Contains(list[0].Fault, "No valid host") {
		t.Errorf("Servers(%s) = %+v, want the server in ERROR with Nova's fault", env, list)
	}

	if err := h.Cloud.Delete(ctx, s.ID); err != nil {
		t.Fatalf("Delete of the ERROR server: %v", err)
	}
	deleted = true
	if err := h.Cloud.WaitGone(ctx, s.ID); err != nil {
		t.Fatalf("WaitGone: %v", err)
	}
}

// Over quota, Create fails with an Unavailable error that says "quota"
// and creates nothing.
func testQuotaExceeded(t *testing.T, h *Harness, ctx context.Context, env string) {
	used := len(h.rawServers(t, ""))
	h.SetInstanceQuota(t, used)
	spec := h.spec(env, "web-1")
	s, err := h.Cloud.Create(ctx, spec)
	if err == nil {
		h.deleteLater(t, s.ID)
		t.Fatalf("Create over quota (%d instances) succeeded: %+v", used, s)
	}
	if actions.ErrorKind(err) != actions.Unavailable || !strings.Contains(strings.ToLower(actions.ErrorMessage(err)), "quota") {
		t.Errorf("Create over quota: kind %s, message %q; want Unavailable mentioning the quota",
			actions.ErrorKind(err), actions.ErrorMessage(err))
	}
	if left := h.rawServers(t, env); len(left) != 0 {
		t.Errorf("Create over quota left %d server(s) behind", len(left))
	}
}

// Canceling WaitActive returns promptly, and a deadline that passes while
// the server builds says which state it was in.
func testCancellation(t *testing.T, h *Harness, ctx context.Context, env string) {
	s, err := h.Cloud.Create(ctx, h.spec(env, "web-1"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	h.deleteLater(t, s.ID)

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fired := make(chan time.Time, 1)
	time.AfterFunc(50*time.Millisecond, func() { fired <- time.Now(); cancel() })
	_, err = h.Cloud.WaitActive(cctx, s.ID, nil)
	returned := time.Now()
	switch {
	case err == nil:
		t.Log("the server was ACTIVE before the cancellation; nothing to check")
	case !errors.Is(err, context.Canceled):
		t.Errorf("WaitActive after cancel: %v, want an error wrapping context.Canceled", err)
	default:
		if late := returned.Sub(<-fired); late > 5*time.Second {
			t.Errorf("WaitActive returned %s after the cancellation", late)
		}
	}

	dctx, dcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer dcancel()
	_, err = h.Cloud.WaitActive(dctx, s.ID, nil)
	if err != nil {
		if msg := actions.ErrorMessage(err); !strings.Contains(msg, "still BUILD after") {
			t.Errorf("WaitActive past its deadline: %q, want it to say the server is still BUILD", msg)
		}
	}
}

// Delete twice is fine, WaitGone on a gone server returns at once, and a
// server that never existed is already deleted.
func testIdempotency(t *testing.T, h *Harness, ctx context.Context, env string) {
	s := h.mustCreateActive(t, ctx, h.spec(env, "web-1"))
	for i := range 2 {
		if err := h.Cloud.Delete(ctx, s.ID); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	for i := range 2 {
		if err := h.Cloud.WaitGone(ctx, s.ID); err != nil {
			t.Fatalf("WaitGone #%d: %v", i+1, err)
		}
	}
	if err := h.Cloud.Delete(ctx, s.ID); err != nil {
		t.Errorf("Delete of a gone server: %v", err)
	}
	const never = "00000000-0000-4000-8000-000000000000"
	if err := h.Cloud.Delete(ctx, never); err != nil {
		t.Errorf("Delete of a server that never existed: %v", err)
	}
	if err := h.Cloud.WaitGone(ctx, never); err != nil {
		t.Errorf("WaitGone of a server that never existed: %v", err)
	}
}

// Unknown flavor, image or network names are Invalid and name the culprit,
// from Resolve (before any create) as from Create; so is a spec without
// ownership metadata. Nothing is created.
func testUnknownNames(t *testing.T, h *Harness, ctx context.Context, env string) {
	bad := "no-such-" + env
	if err := h.Cloud.Resolve(ctx, []actions.ServerSpec{h.spec(env, "web-1")}); err != nil {
		t.Errorf("Resolve of names the cloud has: %v", err)
	}
	both := h.spec(env, "web-1")
	both.Flavor, both.Image = bad+"-f", bad+"-i"
	err := h.Cloud.Resolve(ctx, []actions.ServerSpec{h.spec(env, "web-1"), both})
	if msg := actions.ErrorMessage(err); actions.ErrorKind(err) != actions.Invalid ||
		!strings.Contains(msg, both.Flavor) || !strings.Contains(msg, both.Image) {
		t.Errorf("Resolve of an unknown flavor and image: kind %s, message %q; want Invalid naming both",
			actions.ErrorKind(err), msg)
	}
	for _, c := range []struct {
		name   string
		change func(*actions.ServerSpec)
		want   string
		named  bool // a name Resolve looks up
	}{
		{"flavor", func(s *actions.ServerSpec) { s.Flavor = bad }, bad, true},
		{"image", func(s *actions.ServerSpec) { s.Image = bad }, bad, true},
		{"network", func(s *actions.ServerSpec) { s.Networks = []string{bad} }, bad, true},
		{"no ownership metadata", func(s *actions.ServerSpec) { delete(s.Metadata, actions.MetaManaged) }, "metadata", false},
		{"no env metadata", func(s *actions.ServerSpec) { delete(s.Metadata, actions.MetaEnv) }, "metadata", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := h.spec(env, "web-1")
			c.change(&spec)
			if c.named {
				err := h.Cloud.Resolve(ctx, []actions.ServerSpec{spec})
				if actions.ErrorKind(err) != actions.Invalid || !strings.Contains(actions.ErrorMessage(err), c.want) {
					t.Errorf("Resolve: kind %s, message %q; want Invalid naming %q",
						actions.ErrorKind(err), actions.ErrorMessage(err), c.want)
				}
			}
			s, err := h.Cloud.Create(ctx, spec)
			if err == nil {
				h.deleteLater(t, s.ID)
				t.Fatalf("Create succeeded: %+v", s)
			}
			if actions.ErrorKind(err) != actions.Invalid || !strings.Contains(actions.ErrorMessage(err), c.want) {
				t.Errorf("Create: kind %s, message %q; want Invalid naming %q",
					actions.ErrorKind(err), actions.ErrorMessage(err), c.want)
			}
		})
	}
}

// Ten servers created at once all become ACTIVE and are all deleted.
func testParallel10(t *testing.T, h *Harness, ctx context.Context, env string) {
	took, err := ProvisionParallel(ctx, h.Cloud, env, 10, h.Flavor, h.Image, h.Network)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("10 servers created → ACTIVE → deleted → gone in %s", took.Round(10*time.Millisecond))
	if left := h.rawServers(t, env); len(left) != 0 {
		for _, s := range left {
			t.Errorf("left behind: %s (%s)", s.Name, s.Status)
		}
	}
}

// ProvisionParallel creates n servers of env at once, waits for all to be
// ACTIVE, deletes them and waits until they are gone. It returns the wall
// time of the whole round, and every failure joined. Servers it created
// are deleted even when some fail.
func ProvisionParallel(ctx context.Context, cloud actions.Cloud, env string, n int, flavor, image, network string) (time.Duration, error) {
	start := time.Now()
	var (
		mu   sync.Mutex
		errs []error
		ids  []string
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("%s-node-%d", env, i+1)
			s, err := cloud.Create(ctx, actions.ServerSpec{
				Name: name, Flavor: flavor, Image: image, Networks: []string{network},
				Metadata: map[string]string{actions.MetaManaged: "true", actions.MetaEnv: env},
			})
			if err != nil {
				fail(fmt.Errorf("create %s: %w", name, err))
				return
			}
			mu.Lock()
			ids = append(ids, s.ID)
			mu.Unlock()
			if _, err := cloud.WaitActive(ctx, s.ID, nil); err != nil {
				fail(fmt.Errorf("wait for %s: %w", name, err))
			}
		})
	}
	wg.Wait()
	if len(ids) != n && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("created %d servers, want %d", len(ids), n))
	}
	for _, id := range ids {
		wg.Go(func() {
			if err := cloud.Delete(ctx, id); err != nil {
				fail(fmt.Errorf("delete %s: %w", id, err))
				return
			}
			if err := cloud.WaitGone(ctx, id); err != nil {
				fail(fmt.Errorf("wait for %s to go: %w", id, err))
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}
