package environments_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/environments"
	"github.com/infrabot/infrabot/actions/openstack"
	"github.com/infrabot/infrabot/simulator"
)

// envWorld is the harness's world with the real environment actions
// instead of the test-only ones: an engine on bbolt, the real OpenStack
// provider, and a simulator of its own.
type envWorld struct {
	*actionstest.World
	sim     *simulator.Simulator
	cloud   *openstack.Cloud
	compute *gophercloud.ServiceClient // raw Nova, to look past infrabot's ownership filter

	envs []environments.Environment
	// mod is the module as last made (at each start), for a reload.
	mod *environments.Module
	// wrap, when set, stands between the module and the provider.
	wrap func(actions.Cloud) actions.Cloud

	mu    sync.Mutex
	lists int         // Servers calls since the hook was set
	hook  func(n int) // called before every Servers call with its number, from 1
	// seen, when set, changes what Servers call n returns.
	seen func(n int, servers []actions.Server) []actions.Server
	// sent, when set, hears of every Delete and Create the provider sent.
	sent chan string
}

// hookedCloud is the provider with a hook before each Servers call, so a
// test can change the cloud between a run's plan and its execution.
type hookedCloud struct {
	actions.Cloud
	ew *envWorld
}

func (c hookedCloud) Servers(ctx context.Context, env string) ([]actions.Server, error) {
	c.ew.mu.Lock()
	c.ew.lists++
	hook, seen, n := c.ew.hook, c.ew.seen, c.ew.lists
	c.ew.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	servers, err := c.Cloud.Servers(ctx, env)
	if err == nil && seen != nil {
		servers = seen(n, servers)
	}
	return servers, err
}

func (c hookedCloud) Delete(ctx context.Context, id string) error {
	err := c.Cloud.Delete(ctx, id)
	c.ew.tell("delete " + id)
	return err
}

func (c hookedCloud) Create(ctx context.Context, spec actions.ServerSpec) (actions.Server, error) {
	s, err := c.Cloud.Create(ctx, spec)
	c.ew.tell("create " + spec.Name)
	return s, err
}

func (ew *envWorld) tell(what string) {
	ew.mu.Lock()
	sent := ew.sent
	ew.mu.Unlock()
	if sent != nil {
		sent <- what
	}
}

func (ew *envWorld) onList(hook func(n int)) {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	ew.hook, ew.lists = hook, 0
}

// declared is staging with one logserver and promoters promoter servers,
// and production with one web server, all on the cloud "sim".
func declared(promoters int) []environments.Environment {
	return []environments.Environment{
		{Name: "staging", Cloud: "sim", Servers: []environments.ServerDecl{
			{Name: "logserver", Count: 1, Flavor: "m1.small", Image: "centos-stream-9", Networks: []string{"private"}},
			{Name: "promoter", Count: promoters, Flavor: "m1.medium", Image: "centos-stream-9", Networks: []string{"private"},
				KeyName: "infrabot", SecurityGroups: []string{"default"}},
		}},
		{Name: "production", Cloud: "sim", Servers: []environments.ServerDecl{
			{Name: "web", Count: 1, Flavor: "m1.tiny", Image: "cirros-0.6", Networks: []string{"private"}},
		}},
	}
}

func newEnvWorld(t *testing.T, opts simulator.Options, envs []environments.Environment) *envWorld {
	t.Helper()
	if opts.BuildDelay == 0 {
		opts.BuildDelay = 30 * time.Millisecond
	}
	if opts.DeleteDelay == 0 {
		opts.DeleteDelay = 10 * time.Millisecond
	}
	sim := simulator.New(opts)
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	ctx := context.Background()
	cloud, err := openstack.New(ctx, openstack.Auth{
		AuthURL: sim.AuthURL(), Username: "admin", Password: "admin", ProjectName: "admin", DomainName: "Default",
	}, openstack.Options{PollInitial: 5 * time.Millisecond, PollMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	provider, err := gopenstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: sim.AuthURL(), Username: "admin", Password: "admin", TenantName: "admin", DomainName: "Default",
	})
	if err != nil {
		t.Fatal(err)
	}
	compute, err := gopenstack.NewComputeV2(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	ew := &envWorld{sim: sim, cloud: cloud, compute: compute}
	ew.World = actionstest.New(t, actionstest.Options{
		Environments: envNames(envs),
		Setup:        ew.setup,
	})
	ew.envs = envs
	ew.Restart()
	return ew
}

func envNames(envs []environments.Environment) []string {
	var names []string
	for _, e := range envs {
		names = append(names, e.Name)
	}
	return names
}

// setup makes the environments module, as the wiring does at start.
func (ew *envWorld) setup(w *actionstest.World) {
	h, err := w.Engine.Module(environments.Name)
	if err != nil {
		w.T.Fatal(err)
	}
	ew.mod = environments.New(h, ew.envs, func(ctx context.Context, name string) (actions.Cloud, error) {
		if name != "sim" {
			return nil, actions.Errorf(actions.NotFound, "no cloud %q", name)
		}
		var c actions.Cloud = hookedCloud{Cloud: ew.cloud, ew: ew}
		if ew.wrap != nil {
			c = ew.wrap(c)
		}
		return c, nil
	})
}

// declare restarts the engine on the world's store with envs declared,
// as a config change and a restart would.
func (ew *envWorld) declare(envs []environments.Environment) {
	ew.envs = envs
	ew.Opts.Environments = envNames(envs)
	ew.Restart()
}

var runIDPattern = regexp.MustCompile(`(?:run|request) (\d+) (?:started|awaits)`)

// start runs text as person, checks that it started a run or filed a
// request, and returns its id.
func (ew *envWorld) start(person, text string) int64 {
	ew.T.Helper()
	r := ew.As(person, text)
	m := runIDPattern.FindStringSubmatch(r.Summary)
	if m == nil || r.Tone == actions.ToneDanger {
		ew.T.Fatalf("%s: %q started nothing: %s", person, text, r.Summary)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// finished waits for every run and returns run id, which must be in state.
func (ew *envWorld) finished(id int64, state actions.RunState) *actions.Run {
	ew.T.Helper()
	ew.Engine.Wait()
	r := ew.Run(id)
	if r.State != state {
		ew.T.Fatalf("run %d `%s` = %s (%s), want %s\nsteps: %+v\noutput: %q", id, r.Command, r.State, r.Error, state, r.Steps, r.Output)
	}
	return r
}

// owned lists the servers infrabot owns in env, as the provider sees them.
func (ew *envWorld) owned(env string) []actions.Server {
	ew.T.Helper()
	s, err := ew.cloud.Servers(context.Background(), env)
	if err != nil {
		ew.T.Fatal(err)
	}
	return s
}

// everything lists every server in the cloud, owned or not, as "name STATUS".
func (ew *envWorld) everything() []string {
	ew.T.Helper()
	pages, err := servers.List(ew.compute, servers.ListOpts{}).AllPages(context.Background())
	if err != nil {
		ew.T.Fatal(err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		ew.T.Fatal(err)
	}
	var out []string
	for _, s := range all {
		out = append(out, s.Name+" "+s.Status)
	}
	slices.Sort(out)
	return out
}

func (ew *envWorld) expectEverything(want ...string) {
	ew.T.Helper()
	slices.Sort(want)
	if got := ew.everything(); !slices.Equal(got, want) {
		ew.T.Errorf("servers in the cloud:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// createOutsider creates a server straight through Nova, without
// infrabot's metadata, as a person would by hand.
func (ew *envWorld) createOutsider(name string) {
	ew.T.Helper()
	ctx := context.Background()
	imagesClient, err := gopenstack.NewImageV2(ew.compute.ProviderClient, gophercloud.EndpointOpts{})
	if err != nil {
		ew.T.Fatal(err)
	}
	pages, err := images.List(imagesClient, images.ListOpts{Name: "cirros-0.6"}).AllPages(ctx)
	if err != nil {
		ew.T.Fatal(err)
	}
	imgs, err := images.ExtractImages(pages)
	if err != nil || len(imgs) != 1 {
		ew.T.Fatalf("image cirros-0.6: %v, %d found", err, len(imgs))
	}
	netClient, err := gopenstack.NewNetworkV2(ew.compute.ProviderClient, gophercloud.EndpointOpts{})
	if err != nil {
		ew.T.Fatal(err)
	}
	pages, err = networks.List(netClient, networks.ListOpts{Name: "private"}).AllPages(ctx)
	if err != nil {
		ew.T.Fatal(err)
	}
	nets, err := networks.ExtractNetworks(pages)
	if err != nil || len(nets) != 1 {
		ew.T.Fatalf("network private: %v, %d found", err, len(nets))
	}
	_, err = servers.Create(ctx, ew.compute, servers.CreateOpts{
		Name: name, FlavorRef: "1", ImageRef: imgs[0].ID,
		Networks: []servers.Network{{UUID: nets[0].ID}},
	}, nil).Extract()
	if err != nil {
		ew.T.Fatal(err)
	}
}

// createOwned creates a server through the provider with the ownership
// metadata of env, whatever its name says.
func (ew *envWorld) createOwned(name, env string) actions.Server {
	ew.T.Helper()
	s, err := ew.cloud.Create(context.Background(), actions.ServerSpec{
		Name: name, Flavor: "m1.tiny", Image: "cirros-0.6", Networks: []string{"private"},
		Metadata: map[string]string{actions.MetaManaged: "true", actions.MetaEnv: env},
	})
	if err != nil {
		ew.T.Fatal(err)
	}
	return s
}

// says checks that the reply holds every want, whatever its tone (a
// failed run is shown in the danger tone).
func (ew *envWorld) says(r actions.Reply, want ...string) {
	ew.T.Helper()
	text := r.Summary + "\n" + r.Text + "\n" + strings.Join(r.Lines, "\n") + "\n" + r.Footer
	for _, s := range want {
		if !strings.Contains(text, s) {
			ew.T.Errorf("reply lacks %q:\n%s", s, text)
		}
	}
}

func serverNames(ss []actions.Server) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func stepNames(r *actions.Run) []string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func step(t *testing.T, r *actions.Run, name string) actions.Step {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("run %d has no step %q: %+v", r.ID, name, r.Steps)
	return actions.Step{}
}

func hasLine(lines []string, sub string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, sub) })
}

var stagingServers = []string{"staging-logserver-1", "staging-promoter-1", "staging-promoter-2"}

func TestProvisionCreatesDeclaredServers(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{}, declared(2))

	ew.Expect(ew.As("carol", "status staging"), false, "staging: 0/3 servers (none)", "no servers; `provision staging` creates them")
	ew.Expect(ew.As("carol", "plan staging"), false, "plan for staging: create 3, keep 0, delete 0",
		"+ create staging-logserver-1 (m1.small, centos-stream-9, private)",
		"+ create staging-promoter-1 (m1.medium, centos-stream-9, private; key infrabot; security groups default)",
		"+ create staging-promoter-2 (m1.medium, centos-stream-9, private; key infrabot; security groups default)")
	ew.Expect(ew.As("carol", "provision staging"), true, "carol may not provision")

	id := ew.start("bob", "provision staging")
	r := ew.finished(id, actions.Succeeded)
	if got := stepNames(r); !slices.Equal(got, []string{"create staging-logserver-1", "create staging-promoter-1", "create staging-promoter-2"}) {
		t.Errorf("steps %v", got)
	}
	for _, s := range r.Steps {
		if s.State != actions.Succeeded || s.Detail != "ACTIVE" {
			t.Errorf("step %s = %s %q, want succeeded ACTIVE", s.Name, s.State, s.Detail)
		}
	}
	if !hasLine(r.Output, "staging is as declared: 3 created, 0 kept, 0 deleted") {
		t.Errorf("output %q", r.Output)
	}

	owned := ew.owned("staging")
	if got := serverNames(owned); !slices.Equal(got, stagingServers) {
		t.Fatalf("owned servers %v, want %v", got, stagingServers)
	}
	for _, s := range owned {
		if s.Status != actions.StatusActive || s.Env() != "staging" || len(s.Addresses) == 0 {
			t.Errorf("%s: status %s, env %q, addresses %v", s.Name, s.Status, s.Env(), s.Addresses)
		}
	}
	if f := owned[1].Flavor; f != "m1.medium" {
		t.Errorf("promoter flavor %q", f)
	}
	ew.expectEverything("staging-logserver-1 ACTIVE", "staging-promoter-1 ACTIVE", "staging-promoter-2 ACTIVE")

	st := ew.As("carol", "status staging")
	ew.Expect(st, false, "staging: 3/3 servers (3 ACTIVE)", "staging-logserver-1", "staging-promoter-2", "10.0.0.")
	if st.Footer != "" {
		t.Errorf("status says the environment is not as declared: %s", st.Footer)
	}
	ew.Expect(ew.As("carol", "status"), false, "2 environments", "3/3 servers (3 ACTIVE) on sim", "0/1 servers (none) on sim")

	// Again: nothing is created, nothing touched.
	ew.Expect(ew.As("carol", "plan staging"), false, "create 0, keep 3, delete 0", "nothing to change")
	id = ew.start("bob", "provision staging")
	r = ew.finished(id, actions.Succeeded)
	if len(r.Steps) != 0 || !hasLine(r.Output, "nothing to do: staging is as declared (3 servers)") {
		t.Errorf("second provision: steps %+v, output %q", r.Steps, r.Output)
	}
	again := ew.owned("staging")
	if !slices.Equal(serverIDs(again), serverIDs(owned)) {
		t.Errorf("second provision changed the servers: %v → %v", serverIDs(owned), serverIDs(again))
	}
	if _, ok := ew.Chat.Find("run " + strconv.FormatInt(id, 10) + " `provision staging` by bob: succeeded"); !ok {
		t.Error("the run's progress message does not show its outcome")
	}
}

func TestLoweredCountDeletesAfterApproval(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{}, declared(2))
	ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	before := ew.owned("staging")

	// The config now declares one promoter; infrabot restarts.
	ew.declare(declared(1))
	ew.Expect(ew.As("bob", "plan staging"), false, "create 0, keep 2, delete 1",
		"= keep   staging-logserver-1", "= keep   staging-promoter-1",
		"- delete staging-promoter-2 (id "+before[2].ID[:8]+", no longer declared)")
	ew.Expect(ew.As("bob", "status staging"), false, "staging: 3/2 servers", "not as declared: create 0, keep 2, delete 1")

	// No approval rule names provision, but a plan that deletes needs one.
	id := ew.start("bob", "provision staging")
	if r := ew.Run(id); r.State != actions.AwaitingApproval || r.Approval == nil || !r.Plan.Deletes {
		t.Fatalf("a provision that deletes did not wait for approval: %+v", r)
	}
	if msg, ok := ew.Chat.Find("request " + strconv.FormatInt(id, 10)); !ok || !hasLine(msg.Lines, "- delete staging-promoter-2") || len(msg.Buttons) != 2 {
		t.Errorf("approval message does not show the deletion: %+v", msg)
	}
	ew.Expect(ew.As("bob", "approve "+strconv.FormatInt(id, 10)), true, "cannot approve your own request")
	ew.Engine.Wait()
	if got := serverNames(ew.owned("staging")); len(got) != 3 {
		t.Fatalf("deleted before approval: %v", got)
	}

	ew.Expect(ew.As("alice", "approve "+strconv.FormatInt(id, 10)), false, "approved request")
	r := ew.finished(id, actions.Succeeded)
	if got := stepNames(r); !slices.Equal(got, []string{"delete staging-promoter-2"}) {
		t.Errorf("steps %v, want only the deletion", got)
	}
	if s := step(t, r, "delete staging-promoter-2"); s.State != actions.Succeeded || s.Detail != "gone" {
		t.Errorf("delete step %s %q", s.State, s.Detail)
	}
	after := ew.owned("staging")
	if !slices.Equal(serverIDs(after), serverIDs(before[:2])) {
		t.Errorf("servers after: %v, want the first two of %v", serverIDs(after), serverIDs(before))
	}
	ew.expectEverything("staging-logserver-1 ACTIVE", "staging-promoter-1 ACTIVE")

	id = ew.start("bob", "provision staging")
	if r := ew.finished(id, actions.Succeeded); !hasLine(r.Output, "nothing to do") {
		t.Errorf("provision after converging did something: %+v", r)
	}
}

func TestServerInErrorIsDeletedAndRetried(t *testing.T) {
	t.Parallel()
	// A slow delete, so that a server deleted and not waited for is seen.
	ew := newEnvWorld(t, simulator.Options{DeleteDelay: 500 * time.Millisecond}, declared(2))
	ew.sim.FailBuild("staging-promoter-2", "No valid host was found.")

	id := ew.start("bob", "provision staging")
	r := ew.finished(id, actions.Failed)
	for _, want := range []string{"1 of 3 servers could not be created (staging-promoter-2)", "the others are ACTIVE", "provision staging` again"} {
		if !strings.Contains(r.Error, want) {
			t.Errorf("run error %q lacks %q", r.Error, want)
		}
	}
	// The step says the fault and that the server was deleted again: one
	// line per server, however many fail.
	if s := step(t, r, "create staging-promoter-2"); s.State != actions.Failed ||
		s.Detail != "server staging-promoter-2 went to ERROR: No valid host was found. Deleted it again." {
		t.Errorf("failed step: %s %q", s.State, s.Detail)
	}
	for _, name := range []string{"create staging-logserver-1", "create staging-promoter-1"} {
		if s := step(t, r, name); s.State != actions.Succeeded {
			t.Errorf("%s: %s %q", name, s.State, s.Detail)
		}
	}
	// What people see names the server and Nova's fault.
	ew.says(ew.As("carol", "run "+strconv.FormatInt(id, 10)), "failed",
		"staging-promoter-2 went to ERROR: No valid host was found.", "could not be created (staging-promoter-2)")

	// Nothing leaked: the server in ERROR is gone, not just being deleted.
	ew.expectEverything("staging-logserver-1 ACTIVE", "staging-promoter-1 ACTIVE")

	// With the fault gone, provision creates only the missing server, and
	// needs nobody's approval: it deletes nothing.
	ew.sim.ClearFaults()
	ew.Expect(ew.As("bob", "plan staging"), false, "create 1, keep 2, delete 0", "+ create staging-promoter-2")
	id = ew.start("bob", "provision staging")
	r = ew.finished(id, actions.Succeeded)
	if got := stepNames(r); !slices.Equal(got, []string{"create staging-promoter-2"}) {
		t.Errorf("steps %v", got)
	}
	ew.expectEverything("staging-logserver-1 ACTIVE", "staging-promoter-1 ACTIVE", "staging-promoter-2 ACTIVE")
}

func TestServerInErrorFoundLaterIsReplacedAfterApproval(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{}, declared(1))
	ew.sim.FailBuild("staging-promoter-1", "disk on fire")
	// A server that went to ERROR outside a run (here: made by hand with
	// infrabot's metadata) is replaced, and replacing deletes.
	broken := ew.createOwned("staging-promoter-1", "staging")
	ew.sim.ClearFaults()
	actionstest.WaitFor(t, func() bool {
		s := ew.owned("staging")
		return len(s) == 1 && s[0].Status == actions.StatusError
	})
	ew.Expect(ew.As("carol", "status staging"), false, "1 ERROR", "disk on fire")
	ew.Expect(ew.As("carol", "plan staging"), false, "create 2, keep 0, delete 1",
		"- delete staging-promoter-1 (id "+broken.ID[:8]+", in ERROR, to be created again)")
	id := ew.start("bob", "provision staging")
	if r := ew.Run(id); r.State != actions.AwaitingApproval {
		t.Fatalf("replacing a server in ERROR did not wait for approval: %s", r.State)
	}
	ew.As("alice", "approve "+strconv.FormatInt(id, 10))
	r := ew.finished(id, actions.Succeeded)
	if got := stepNames(r); !slices.Equal(got, []string{"create staging-logserver-1", "create staging-promoter-1", "delete staging-promoter-1"}) {
		t.Errorf("steps %v", got)
	}
	ew.expectEverything("staging-logserver-1 ACTIVE", "staging-promoter-1 ACTIVE")
	if s := ew.owned("staging"); s[1].ID == broken.ID {
		t.Error("the server in ERROR was kept")
	}
}

func TestPlanOverQuotaIsRefusedBeforeAnythingIsCreated(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{}, declared(2))
	ew.sim.SetInstanceQuota(1)

	short := "instances: needs 3 more, 1 free (quota 1, 0 used)"
	ew.says(ew.As("carol", "plan staging"), "staging does not fit in cloud", short)
	r := ew.As("bob", "provision staging")
	if r.Tone != actions.ToneDanger {
		t.Fatalf("provision over quota was not refused: %s", r.Summary)
	}
	ew.says(r, "nothing was created", short, "Ask for a larger quota")
	if runs, err := ew.DB.Runs(context.Background(), actions.RunFilter{}); err != nil || len(runs) != 0 {
		t.Errorf("a refused plan left runs: %+v, %v", runs, err)
	}
	if all := ew.everything(); len(all) != 0 {
		t.Errorf("servers created although the plan did not fit: %v", all)
	}

	ew.sim.SetInstanceQuota(-1)
	r2 := ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	if len(r2.Steps) != 3 {
		t.Errorf("steps %+v, want the 3 servers", r2.Steps)
	}
	ew.expectEverything("staging-logserver-1 ACTIVE", "staging-promoter-1 ACTIVE", "staging-promoter-2 ACTIVE")
}

// A declaration naming a flavor, image or network the cloud lacks is
// refused as a whole, before anything is created, even when the quota
// check cannot run: no half-done provision.
func TestUnknownNameIsRefusedBeforeAnythingIsCreated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                   string
		flavor, image, network string
		limitsUnreadable       bool
		want                   string
	}{
		{"image", "m1.medium", "centos-stream-99", "private", false, `unknown image "centos-stream-99"`},
		{"network", "m1.medium", "centos-stream-9", "privat", false, `unknown network "privat"`},
		{"flavor, limits unreadable", "m1.mediun", "centos-stream-9", "private", true, `unknown flavor "m1.mediun" (this cloud has: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			envs := declared(2)
			envs[0].Servers[1].Flavor, envs[0].Servers[1].Image = tc.flavor, tc.image
			envs[0].Servers[1].Networks = []string{tc.network}
			ew := newEnvWorld(t, simulator.Options{}, envs)
			if tc.limitsUnreadable {
				ew.sim.Inject(simulator.Fault{Method: "GET", Path: "/compute/v2.1/limits", Status: http.StatusForbidden})
			}
			p := ew.As("carol", "plan staging")
			if p.Tone != actions.ToneDanger {
				t.Errorf("plan naming a missing %s was not refused: %s %q", tc.name, p.Summary, p.Lines)
			}
			ew.says(p, tc.want, "nothing was created")
			r := ew.As("bob", "provision staging")
			ew.Engine.Wait()
			if r.Tone != actions.ToneDanger {
				t.Fatalf("provision naming a missing %s was not refused: %s", tc.name, r.Summary)
			}
			ew.says(r, tc.want)
			if runs, err := ew.DB.Runs(context.Background(), actions.RunFilter{}); err != nil || len(runs) != 0 {
				t.Errorf("a refused plan left runs: %+v, %v", runs, err)
			}
			if all := ew.everything(); len(all) != 0 {
				t.Errorf("a declaration naming a missing %s half-ran: the cloud holds %v", tc.name, all)
			}
		})
	}
}

func TestCreateAnswered503(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{}, declared(2))
	ew.sim.Inject(simulator.Fault{Method: "POST", Path: "/compute/v2.1/servers", Status: 503, Times: 1})

	id := ew.start("bob", "provision staging")
	r := ew.finished(id, actions.Failed)
	var failed []actions.Step
	for _, s := range r.Steps {
		if s.State == actions.Failed {
			failed = append(failed, s)
		}
	}
	if len(failed) != 1 {
		t.Fatalf("%d steps failed, want 1: %+v", len(failed), r.Steps)
	}
	name := strings.TrimPrefix(failed[0].Name, "create ")
	if want := "could not confirm that server " + name + " was created"; !strings.Contains(failed[0].Detail, want) {
		t.Errorf("failed step detail %q lacks %q", failed[0].Detail, want)
	}
	if !strings.Contains(r.Error, "1 of 3 servers could not be created ("+name+")") {
		t.Errorf("run error %q does not name %s", r.Error, name)
	}
	if got := serverNames(ew.owned("staging")); len(got) != 2 || slices.Contains(got, name) {
		t.Errorf("servers after the 503: %v", got)
	}

	r = ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	if got := stepNames(r); !slices.Equal(got, []string{"create " + name}) {
		t.Errorf("rerun steps %v, want only create %s", got, name)
	}
	ew.expectEverything("staging-logserver-1 ACTIVE", "staging-promoter-1 ACTIVE", "staging-promoter-2 ACTIVE")
}

func TestServerStuckInBuildTimesOut(t *testing.T) {
	t.Parallel()
	envs := declared(2)
	// Long enough that the servers which do build (30 ms in the
	// simulator) and the deletion of the stuck one fit in it on a loaded
	// machine under -race; the stuck one never does, whatever the bound.
	envs[0].Timeout = 2 * time.Second
	ew := newEnvWorld(t, simulator.Options{}, envs)
	ew.sim.StickInBuild("staging-promoter-1")

	id := ew.start("bob", "provision staging")
	r := ew.finished(id, actions.Failed)
	s := step(t, r, "create staging-promoter-1")
	if s.State != actions.Failed || !strings.Contains(s.Detail, "server staging-promoter-1 still BUILD") || !strings.HasSuffix(s.Detail, "Deleted it again.") {
		t.Errorf("stuck step: %s %q", s.State, s.Detail)
	}
	if !strings.Contains(r.Error, "could not be created (staging-promoter-1)") {
		t.Errorf("run error %q", r.Error)
	}
	ew.expectEverything("staging-logserver-1 ACTIVE", "staging-promoter-2 ACTIVE")
}

// secondReadNotJSON answers the second GET of a server (the first is
// Create's own read-back; the second, the first poll of the wait) 200
// with an HTML page, as a misbehaving proxy in front of Nova can.
type secondReadNotJSON struct {
	next  http.RoundTripper
	reads atomic.Int32
}

func (t *secondReadNotJSON) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/servers/") ||
		strings.HasSuffix(req.URL.Path, "/detail") || t.reads.Add(1) != 2 {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{"Content-Type": {"text/html"}}, Request: req,
		Body: io.NopCloser(strings.NewReader("<html><body>Gateway says hello</body></html>"))}, nil
}

// One odd answer while a new server builds is not the server failing:
// the wait goes on, the server is kept, and the odd answer is in the log.
func TestOneAnswerThatIsNotJSONDoesNotFailAHealthyServer(t *testing.T) {
	t.Parallel()
	envs := []environments.Environment{{Name: "staging", Cloud: "sim", Servers: []environments.ServerDecl{
		{Name: "web", Count: 1, Flavor: "m1.tiny", Image: "cirros-0.6", Networks: []string{"private"}},
	}}}
	ew := newEnvWorld(t, simulator.Options{BuildDelay: 300 * time.Millisecond}, envs)
	logs := &actionstest.Buffer{}
	tr := &secondReadNotJSON{next: http.DefaultTransport}
	cloud, err := openstack.New(context.Background(), openstack.Auth{
		AuthURL: ew.sim.AuthURL(), Username: "admin", Password: "admin", ProjectName: "admin", DomainName: "Default",
	}, openstack.Options{PollInitial: 5 * time.Millisecond, PollMax: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	ew.cloud = cloud

	r := ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	if s := step(t, r, "create staging-web-1"); s.State != actions.Succeeded || s.Detail != "ACTIVE" {
		t.Errorf("step: %s %q, want ACTIVE", s.State, s.Detail)
	}
	if tr.reads.Load() < 2 {
		t.Fatalf("the wait read the server %d times: the odd answer was never given", tr.reads.Load())
	}
	if !strings.Contains(logs.String(), "invalid character '<'") {
		t.Errorf("the odd answer is not in the log:\n%s", logs.String())
	}
	ew.expectEverything("staging-web-1 ACTIVE")
}

// failingWait is the provider with a wait that fails for a reason meant
// for the log only.
type failingWait struct{ actions.Cloud }

func (c failingWait) WaitActive(ctx context.Context, id string, seen func(actions.Server)) (actions.Server, error) {
	return actions.Server{}, errors.New("decoding server: the disk of the gateway is on fire")
}

// A step that says its details are in infrabot's log finds them there.
func TestAFailedCreateLogsItsCause(t *testing.T) {
	t.Parallel()
	envs := []environments.Environment{{Name: "staging", Cloud: "sim", Servers: []environments.ServerDecl{
		{Name: "web", Count: 1, Flavor: "m1.tiny", Image: "cirros-0.6", Networks: []string{"private"}},
	}}}
	ew := newEnvWorld(t, simulator.Options{}, envs)
	logs := &actionstest.Buffer{}
	ew.Opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ew.wrap = func(c actions.Cloud) actions.Cloud { return failingWait{c} }
	ew.Restart()

	r := ew.finished(ew.start("bob", "provision staging"), actions.Failed)
	s := step(t, r, "create staging-web-1")
	if !strings.Contains(s.Detail, "details are in infrabot's log") || !strings.HasSuffix(s.Detail, "Deleted it again.") {
		t.Errorf("step: %s %q", s.State, s.Detail)
	}
	if !strings.Contains(logs.String(), "the disk of the gateway is on fire") {
		t.Errorf("the step points at the log, which lacks the cause:\n%s", logs.String())
	}
	ew.expectEverything()
}

func TestCancelProvisionStopsOnlyWhatWasNotSent(t *testing.T) {
	t.Parallel()
	envs := declared(2)
	envs[0].Parallel = 1 // one create at a time: the cancel comes while the first builds
	ew := newEnvWorld(t, simulator.Options{}, envs)
	ew.sim.StickInBuild("staging-")

	id := ew.start("bob", "provision staging")
	sid := strconv.FormatInt(id, 10)
	actionstest.WaitFor(t, func() bool {
		r := ew.Run(id)
		return len(r.Steps) == 1 && strings.HasPrefix(r.Steps[0].Detail, "BUILD")
	})
	ew.Expect(ew.As("alice", "lock staging"), true, "in use by")
	ew.Expect(ew.As("carol", "cancel "+sid), true, "carol may not cancel")
	ew.Expect(ew.As("bob", "cancel "+sid), false, "cancelling run "+sid)
	r := ew.finished(id, actions.Cancelled)
	if r.Error != "cancelled by bob" {
		t.Errorf("error %q", r.Error)
	}
	// The create that was sent goes on at the cloud, and the run says so;
	// the two not sent were not.
	if len(r.Steps) != 1 {
		t.Fatalf("steps %+v, want only the create that was sent", r.Steps)
	}
	if s := r.Steps[0]; s.Name != "create staging-logserver-1" || s.State != actions.Ongoing || !strings.Contains(s.Detail, "creating") {
		t.Errorf("the sent create shows %s %q, want ongoing: creating", s.State, s.Detail)
	}
	if got := serverNames(ew.owned("staging")); !slices.Equal(got, []string{"staging-logserver-1"}) {
		t.Errorf("staging holds %v, want the one server whose create was sent", got)
	}
	// The lock went with the run.
	ew.Expect(ew.As("alice", "lock staging"), false, "locked by alice")
	ew.Expect(ew.As("alice", "unlock staging"), false)
}

func TestCancelTeardownTellsWhatWasSent(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{DeleteDelay: 2 * time.Second}, declared(2))
	ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	id, r := ew.cancelTeardownOnceSent()
	sid := strconv.FormatInt(id, 10)
	if len(r.Steps) != 3 {
		t.Fatalf("steps %+v", r.Steps)
	}
	for _, s := range r.Steps {
		deleting := s.State == actions.Ongoing && strings.Contains(s.Detail, "deleting")
		gone := s.State == actions.Succeeded && s.Detail == "gone"
		if !deleting && !gone {
			t.Errorf("step %s is %s %q: its delete was sent, so it is deleting or gone", s.Name, s.State, s.Detail)
		}
	}
	m := ew.As("alice", "run "+sid)
	if text := strings.Join(m.Lines, "\n"); strings.Contains(text, "— cancelled") {
		t.Errorf("`run %s` shows a sent delete as cancelled:\n%s", sid, text)
	}
	actionstest.WaitFor(t, func() bool { return len(ew.owned("staging")) == 0 })
}

// cancelTeardownOnceSent starts a teardown of staging's three servers,
// has alice approve it, waits until all three deletes were sent, has bob
// cancel it and returns the run as it finished, cancelled.
func (ew *envWorld) cancelTeardownOnceSent() (int64, *actions.Run) {
	ew.T.Helper()
	sent := make(chan string, 16)
	ew.mu.Lock()
	ew.sent = sent
	ew.mu.Unlock()
	defer func() {
		ew.mu.Lock()
		ew.sent = nil
		ew.mu.Unlock()
	}()
	id := ew.start("bob", "teardown staging")
	sid := strconv.FormatInt(id, 10)
	ew.Expect(ew.As("alice", "approve "+sid), false, "approved request "+sid)
	for range 3 {
		select {
		case <-sent:
		case <-time.After(10 * time.Second):
			ew.T.Fatal("the deletes were not sent")
		}
	}
	ew.Expect(ew.As("bob", "cancel "+sid), false, "cancelling run "+sid)
	return id, ew.finished(id, actions.Cancelled)
}

// beingDeleted counts the servers in the cloud Nova lists with task state
// "deleting": their delete was sent and they will be gone.
func (ew *envWorld) beingDeleted() int {
	ew.T.Helper()
	pages, err := servers.List(ew.compute, servers.ListOpts{}).AllPages(context.Background())
	if err != nil {
		ew.T.Fatal(err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		ew.T.Fatal(err)
	}
	n := 0
	for _, s := range all {
		if s.TaskState == "deleting" {
			n++
		}
	}
	return n
}

// A teardown whose deletes were sent and which was then cancelled (or cut
// off by a crash) leaves servers that Nova still lists, in their last
// status, for as long as it takes to delete them. They are not there for
// status, plan or provision: provision creates them again, and the
// environment is complete once the old ones are gone.
func TestServerBeingDeletedIsNotCountedAsThere(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{DeleteDelay: 3 * time.Second}, declared(2))
	ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	ew.cancelTeardownOnceSent()
	if n := ew.beingDeleted(); n != 3 {
		t.Fatalf("%d servers being deleted after the cancel, want the 3 whose deletes were sent", n)
	}

	ew.says(ew.As("carol", "status staging"), "3 deleting", "not as declared: create 3, keep 0, delete 0")
	ew.says(ew.As("carol", "plan staging"), "create 3, keep 0, delete 0", "+ create staging-promoter-2",
		"staging-promoter-2 (id ", "being deleted")
	ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	actionstest.WaitFor(t, func() bool { return ew.beingDeleted() == 0 })
	ew.expectEverything("staging-logserver-1 ACTIVE", "staging-promoter-1 ACTIVE", "staging-promoter-2 ACTIVE")
}

func TestTeardown(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{}, declared(2))
	ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	ew.finished(ew.start("alice", "provision production"), actions.Succeeded)
	ew.createOutsider("staging-handmade-1")           // no metadata at all
	ew.createOwned("staging-foreign-1", "production") // looks like staging's, is not
	everyone := []string{"staging-logserver-1 ACTIVE", "staging-promoter-1 ACTIVE", "staging-promoter-2 ACTIVE",
		"production-web-1 ACTIVE", "staging-handmade-1 ACTIVE", "staging-foreign-1 ACTIVE"}
	actionstest.WaitFor(t, func() bool { return slices.Equal(ew.everything(), sorted(everyone)) })
	if got := serverNames(ew.owned("staging")); !slices.Equal(got, stagingServers) {
		t.Fatalf("staging owns %v", got)
	}

	id := ew.start("bob", "teardown staging")
	sid := strconv.FormatInt(id, 10)
	r := ew.Run(id)
	if r.State != actions.AwaitingApproval || r.Plan.Summary != "delete 3" {
		t.Fatalf("teardown request: %s, plan %q", r.State, r.Plan.Summary)
	}
	msg, ok := ew.Chat.Find("request " + sid)
	if !ok {
		t.Fatal("no approval message")
	}
	for _, name := range stagingServers {
		if !hasLine(msg.Lines, "- delete "+name) {
			t.Errorf("approval message lacks %s: %q", name, msg.Lines)
		}
	}
	if hasLine(msg.Lines, "handmade") || hasLine(msg.Lines, "foreign") || hasLine(msg.Lines, "production") {
		t.Errorf("teardown plan names servers staging does not own: %q", msg.Lines)
	}
	ew.Expect(ew.As("bob", "approve "+sid), true, "cannot approve your own request")
	ew.Expect(ew.As("carol", "approve "+sid), true, "carol may not approve")
	ew.Engine.Wait()
	ew.expectEverything(everyone...)

	ew.Expect(ew.As("alice", "approve "+sid), false, "approved request "+sid)
	r = ew.finished(id, actions.Succeeded)
	if got := stepNames(r); !slices.Equal(got, []string{"delete staging-logserver-1", "delete staging-promoter-1", "delete staging-promoter-2"}) {
		t.Errorf("steps %v", got)
	}
	if !hasLine(r.Output, "staging torn down: 3 servers deleted") {
		t.Errorf("output %q", r.Output)
	}
	ew.expectEverything("production-web-1 ACTIVE", "staging-handmade-1 ACTIVE", "staging-foreign-1 ACTIVE")
	if got := ew.owned("production"); len(got) != 1 || got[0].Name != "production-web-1" {
		t.Errorf("production owns %v", serverNames(got))
	}
	ew.Expect(ew.As("bob", "teardown staging"), false, "nothing to do", "infrabot owns no server in staging")
}

func TestTeardownVoidWhenPlanChanges(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{}, declared(2))
	ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)

	id := ew.start("bob", "teardown staging")
	sid := strconv.FormatInt(id, 10)
	// Someone adds a server to staging before the approval.
	ew.createOwned("staging-extra-1", "staging")
	ew.Expect(ew.As("alice", "approve "+sid), true, "plan for request "+sid+" changed", "now: delete 4", "ask again with `teardown staging`")
	ew.Engine.Wait()
	if r := ew.Run(id); r.State != actions.Expired || r.Approval.State != actions.ApprovalVoid {
		t.Errorf("run %d = %s / %s, want expired / void", id, r.State, r.Approval.State)
	}
	if got := serverNames(ew.owned("staging")); len(got) != 4 {
		t.Errorf("a void teardown deleted servers: %v", got)
	}
	ew.Expect(ew.As("dave", "approve "+sid), true, "not awaiting approval")

	// Asked again, it deletes all four.
	id = ew.start("bob", "teardown staging")
	ew.As("dave", "approve "+strconv.FormatInt(id, 10))
	ew.finished(id, actions.Succeeded)
	ew.expectEverything()
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestProvisionDeletesOnlyWhatWasApproved(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{}, declared(2))
	ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)

	// Between the plan (nothing to change) and the run, a server appears
	// that the declaration does not name: the run must not delete it.
	ew.onList(func(n int) {
		if n == 2 {
			ew.createOwned("staging-extra-1", "staging")
		}
	})
	id := ew.start("bob", "provision staging")
	r := ew.finished(id, actions.Succeeded)
	ew.onList(nil)
	if !r.Plan.Empty || len(r.Steps) != 0 {
		t.Errorf("plan %+v, steps %+v", r.Plan, r.Steps)
	}
	if !hasLine(r.Output, "not deleting staging-extra-1: its deletion was not in the approved plan") {
		t.Errorf("output %q", r.Output)
	}
	if got := serverNames(ew.owned("staging")); !slices.Contains(got, "staging-extra-1") {
		t.Fatalf("a deletion nobody approved was carried out: %v", got)
	}

	// Approved: delete staging-extra-1. Before the run starts a second one
	// appears; only the approved deletion is carried out.
	id = ew.start("bob", "provision staging")
	ew.onList(func(n int) {
		if n == 2 { // 1 is the plan made again at approval
			ew.createOwned("staging-extra-2", "staging")
		}
	})
	ew.Expect(ew.As("alice", "approve "+strconv.FormatInt(id, 10)), false, "approved request")
	r = ew.finished(id, actions.Succeeded)
	ew.onList(nil)
	if got := stepNames(r); !slices.Equal(got, []string{"delete staging-extra-1"}) {
		t.Errorf("steps %v, want only the approved deletion", got)
	}
	if !hasLine(r.Output, "not deleting staging-extra-2") {
		t.Errorf("output %q", r.Output)
	}
	if got := serverNames(ew.owned("staging")); !slices.Equal(got, sorted(append(slices.Clone(stagingServers), "staging-extra-2"))) {
		t.Errorf("servers after: %v", got)
	}
}

func TestTeardownDeletesExactlyTheApprovedIDs(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{}, declared(2))
	ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	id := ew.start("bob", "teardown staging")
	approved := ew.Run(id).Plan

	// By the time the run lists the servers, staging-promoter-2 is another
	// server under the same name, whose id starts as the approved one's:
	// a plan bound by its wording could not tell them apart.
	var swapped string
	ew.mu.Lock()
	ew.lists = 0
	ew.seen = func(n int, servers []actions.Server) []actions.Server {
		if n < 2 { // 1 is the plan made again at approval
			return servers
		}
		out := slices.Clone(servers)
		for i := range out {
			if out[i].Name == "staging-promoter-2" {
				out[i].ID = out[i].ID[:8] + "-not-the-approved-one"
				swapped = out[i].ID
			}
		}
		return out
	}
	ew.mu.Unlock()
	ew.Expect(ew.As("alice", "approve "+strconv.FormatInt(id, 10)), false, "approved request")
	r := ew.finished(id, actions.Succeeded)
	if got := stepNames(r); !slices.Equal(got, []string{"delete staging-logserver-1", "delete staging-promoter-1"}) {
		t.Errorf("steps %v, want only the servers whose ids were approved", got)
	}
	if !hasLine(r.Output, "not deleting staging-promoter-2") {
		t.Errorf("output %q", r.Output)
	}
	for _, it := range approved.Items {
		if it.ID == swapped {
			t.Fatalf("the approved plan held the swapped id %s", swapped)
		}
	}
}

// TestStatusShowsWhatHoldsTheEnvironment checks that status shows the
// environment's lock, its running run and its pending requests, besides
// its servers.
func TestStatusShowsWhatHoldsTheEnvironment(t *testing.T) {
	t.Parallel()
	ew := newEnvWorld(t, simulator.Options{}, declared(1))
	ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	ew.start("bob", "teardown staging") // request 2, pending
	ew.Expect(ew.As("bob", `lock staging "db upgrade"`), false, "staging is locked by bob")

	ew.sim.StickInBuild("staging-promoter-2")
	ew.declare(declared(2))
	id := ew.start("bob", "provision staging")
	actionstest.WaitFor(t, func() bool {
		r := ew.Run(id)
		return len(r.Steps) == 1 && strings.HasPrefix(r.Steps[0].Detail, "BUILD")
	})
	ew.Clock.Advance(5 * time.Minute)

	st := ew.As("carol", "status staging")
	var got []string
	for _, f := range st.Fields {
		got = append(got, f.Label+": "+f.Value)
	}
	want := []string{
		`locked by: bob ("db upgrade") since 2026-11-21 12:00 UTC (5m00s ago)`,
		"running: run 3 `provision staging` by bob, for 5m00s",
		"awaiting approval: request 2 `teardown staging` by bob, expires in 10m00s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("status fields:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ew.Expect(ew.As("carol", "status"), false, "staging      3/3 servers (1 BUILD, 2 ACTIVE) on sim; locked by bob; run 3 running; 1 request awaiting approval")
	ew.Expect(ew.As("bob", "cancel 3"), false, "cancelling run 3")
	ew.finished(id, actions.Cancelled)
}

// portsCloud is the provider with a Neutron ports quota, which the
// simulator does not serve.
type portsCloud struct {
	actions.Cloud
	ports actions.Usage
}

func (c portsCloud) Limits(ctx context.Context) (actions.Limits, error) {
	l, err := c.Cloud.Limits(ctx)
	l.Ports, l.PortsKnown = c.ports, true
	return l, err
}

// Every quota the plan is checked against refuses it up front, naming
// what is short: cores and RAM from Nova's limits, ports from Neutron's.
func TestPlanShortOfCoresRAMOrPortsIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		quotas map[string]int
		ports  *actions.Usage
		want   string
	}{
		{"cores", map[string]int{"cores": 2}, nil, "cores: needs"},
		{"ram", map[string]int{"ram": 1024}, nil, "RAM: needs"},
		{"ports", nil, &actions.Usage{Max: 4, Used: 2}, "ports: needs 3 more, 2 free (quota 4, 2 used)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ew := newEnvWorld(t, simulator.Options{Quotas: tc.quotas}, declared(2))
			if tc.ports != nil {
				ew.wrap = func(c actions.Cloud) actions.Cloud { return portsCloud{Cloud: c, ports: *tc.ports} }
			}
			r := ew.As("bob", "provision staging")
			if r.Tone != actions.ToneDanger {
				t.Fatalf("provision short of %s was not refused: %s", tc.name, r.Summary)
			}
			ew.says(r, "staging does not fit in cloud", "nothing was created", tc.want)
			if all := ew.everything(); len(all) != 0 {
				t.Errorf("servers created although the plan did not fit: %v", all)
			}
		})
	}
}

// specRecorder records every spec the module asks the cloud to create.
type specRecorder struct {
	actions.Cloud
	mu    *sync.Mutex
	specs *[]actions.ServerSpec
}

func (c specRecorder) Create(ctx context.Context, spec actions.ServerSpec) (actions.Server, error) {
	c.mu.Lock()
	*c.specs = append(*c.specs, spec)
	c.mu.Unlock()
	return c.Cloud.Create(ctx, spec)
}

// withGroups is staging with one logserver and two promoters, the
// promoters in security group sg and with key pair key.
func withGroups(key, sg string) []environments.Environment {
	envs := declared(2)
	envs[0].Servers[1].KeyName, envs[0].Servers[1].SecurityGroups = key, []string{sg}
	return envs
}

// TestApprovalVoidWhenWhatIsCreatedChanges: a create's security groups
// and key pair are part of the plan, so a change of them between the
// request and its approval voids the approval, and nothing is created.
func TestApprovalVoidWhenWhatIsCreatedChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		key, sg  string
		wantLine string
	}{
		{"security group", "infrabot", "wide-open", "security groups wide-open"},
		{"key pair", "someone-else", "default", "key someone-else"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var specs []actions.ServerSpec
			ew := newEnvWorld(t, simulator.Options{}, declared(1))
			ew.wrap = func(c actions.Cloud) actions.Cloud { return specRecorder{Cloud: c, mu: &mu, specs: &specs} }
			ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
			ew.createOwned("staging-extra-1", "staging") // to delete, so the request waits for approval

			ew.declare(withGroups("infrabot", "default"))
			ew.Expect(ew.As("carol", "plan staging"), false,
				"+ create staging-promoter-2 (m1.medium, centos-stream-9, private; key infrabot; security groups default)")
			id := ew.start("bob", "provision staging")
			if r := ew.Run(id); r.State != actions.AwaitingApproval {
				t.Fatalf("state %s", r.State)
			}
			// The config changes what the new server would be made with.
			ew.declare(withGroups(tc.key, tc.sg))
			ew.Expect(ew.As("carol", "plan staging"), false, tc.wantLine)
			sid := strconv.FormatInt(id, 10)
			ew.Expect(ew.As("alice", "approve "+sid), true, "plan for request "+sid+" changed", "ask again with `provision staging`")
			ew.Engine.Wait()
			if r := ew.Run(id); r.State != actions.Expired || r.Approval.State != actions.ApprovalVoid {
				t.Errorf("run %d = %s / %s, want expired / void", id, r.State, r.Approval.State)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range specs {
				if s.Name == "staging-promoter-2" {
					t.Errorf("created %s (key %s, groups %v) although the approval was void", s.Name, s.KeyName, s.SecurityGroups)
				}
			}
		})
	}
}

// TestProvisionCreatesWhatThePlanSaid: a reload between the plan and the
// run changes nothing the run creates: it creates the plan's items, as
// they were shown, not the declaration as it is by then.
func TestProvisionCreatesWhatThePlanSaid(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var specs []actions.ServerSpec
	ew := newEnvWorld(t, simulator.Options{}, declared(1))
	ew.wrap = func(c actions.Cloud) actions.Cloud { return specRecorder{Cloud: c, mu: &mu, specs: &specs} }
	ew.finished(ew.start("bob", "provision staging"), actions.Succeeded)
	mu.Lock()
	specs = nil
	mu.Unlock()

	ew.declare(withGroups("infrabot", "default"))
	// The config is reloaded once the plan has read the declaration, and
	// before the run reads it again: other groups and key, one more
	// promoter.
	ew.onList(func(n int) {
		if n == 1 {
			envs := withGroups("someone-else", "wide-open")
			envs[0].Servers[1].Count = 3
			ew.mod.Reconfigure(envs)
		}
	})
	id := ew.start("bob", "provision staging")
	r := ew.finished(id, actions.Succeeded)
	ew.onList(nil)
	if got := stepNames(r); !slices.Equal(got, []string{"create staging-promoter-2"}) {
		t.Errorf("steps %v", got)
	}
	if !hasLine(r.Output, "not creating staging-promoter-3: its creation was not in the approved plan") {
		t.Errorf("output %q", r.Output)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(specs) != 1 {
		t.Fatalf("created %d servers, want 1: %+v", len(specs), specs)
	}
	s := specs[0]
	if s.Name != "staging-promoter-2" || s.KeyName != "infrabot" || !slices.Equal(s.SecurityGroups, []string{"default"}) ||
		s.Flavor != "m1.medium" || s.Image != "centos-stream-9" || !slices.Equal(s.Networks, []string{"private"}) ||
		s.Metadata[actions.MetaManaged] != "true" || s.Metadata[actions.MetaEnv] != "staging" {
		t.Errorf("created %+v, not what the plan showed", s)
	}
}
