package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/simulator"
)

// binary is the infrabot built once for these tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if run := flag.Lookup("test.run"); run != nil && run.Value.String() == "^$" {
		// Benchmarks only (make bench): they run in process, no binary.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "infrabot-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "infrabot")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building infrabot: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bot is an infrabot configuration and store that successive shell
// processes share, as restarts of one deployment would.
type bot struct {
	t      *testing.T
	dir    string
	config string
	env    []string
}

const simPassword = "e2e-local-sim-password"

// newBot writes a config whose cloud is sim, reached with inline auth.
func newBot(t *testing.T, sim *simulator.Simulator) *bot {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`storage:
  path: %s/infrabot.db
people:
  alice: {roles: [admin]}
  bob:   {roles: [operator]}
  carol: {roles: [viewer]}
roles:
  viewer:
    allow: [help, whoami, status, plan, runs, run]
  operator:
    inherit: [viewer]
    allow: [provision, teardown, lock, unlock, cancel, approve, deny]
    environments: [staging, scratch]
  admin:
    inherit: [operator]
    allow: ["*"]
    environments: ["*"]
approvals:
  - actions: [teardown]
    environments: [scratch]
    approvers: [admin]
    expires: 1s
  - actions: [teardown]
    environments: ["*"]
    approvers: [operator, admin]
    expires: 15m
channels:
  default: {slack: C0INFRA}
clouds:
  sim:
    auth_url: %s
    username: admin
    password: ${env:INFRABOT_E2E_OS_PASSWORD}
    project: admin
    domain: Default
environments:
  staging:
    cloud: sim
    servers:
      - {name: logserver, flavor: m1.small, image: centos-stream-9, networks: [private]}
      - {name: promoter, count: 2, flavor: m1.medium, image: centos-stream-9, networks: [private]}
  scratch:
    cloud: sim
    servers:
      - {name: box, flavor: m1.tiny, image: cirros-0.6, networks: [private]}
`, dir, sim.AuthURL())
	path := filepath.Join(dir, "infrabot.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &bot{t: t, dir: dir, config: path, env: append(os.Environ(), "INFRABOT_E2E_OS_PASSWORD="+simPassword)}
}

// shell runs one `infrabot shell` process as user with lines on its
// standard input, and returns what it printed. It fails the test if the
// process fails.
func (b *bot) shell(user string, lines ...string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "shell", "--config", b.config, "--user", user)
	cmd.Env = b.env
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.t.Fatalf("infrabot shell: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), simPassword) {
		b.t.Fatal("the cloud password was printed")
	}
	return stdout.String()
}

// infrabot runs another subcommand and returns its output and exit code.
func (b *bot) infrabot(args ...string) (string, int) {
	b.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = b.env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		b.t.Fatal(err)
	}
	return string(out), 0
}

func expect(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func refuse(t *testing.T, out string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(out, w) {
			t.Errorf("output holds %q:\n%s", w, out)
		}
	}
}

func startSimulator(t *testing.T) *simulator.Simulator {
	t.Helper()
	sim := simulator.New(simulator.Options{Password: simPassword, BuildDelay: 300 * time.Millisecond, DeleteDelay: 100 * time.Millisecond})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

func TestCoreStory(t *testing.T) {
	t.Parallel()
	b := newBot(t, startSimulator(t))

	out := b.shell("carol", "lock staging")
	expect(t, out, "carol may not lock: none of your roles (viewer) allows it")

	out = b.shell("bob", `lock staging "db upgrade"`, "/as alice", "lock staging")
	expect(t, out, "understood: `lock staging \"db upgrade\"` — staging is locked by bob",
		`staging is locked by bob ("db upgrade") since`)

	// A new process: the lock is still there.
	out = b.shell("alice", "lock staging", "provision staging")
	expect(t, out, `staging is locked by bob ("db upgrade")`)
	refuse(t, out, "run 1 started")

	// alice breaks the lock on scratch; bob hears it in a direct message.
	b.shell("bob", `lock scratch "resize"`)
	out = b.shell("alice", "unlock scratch --force")
	expect(t, out, "bob's lock on scratch is broken", `[dm bob] alice broke your lock on scratch (you locked it for "resize")`)

	out, code := b.infrabot("audit", "verify", "--config", b.config)
	if code != 0 {
		t.Fatalf("audit verify on an untouched log: exit %d\n%s", code, out)
	}
	expect(t, out, "audit log ok")

	// Someone edits one record in the bbolt file.
	db, err := bolt.Open(filepath.Join(b.dir, "infrabot.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("audit"))
		k, v := bk.Cursor().Seek(append([]byte(nil), 0, 0, 0, 0, 0, 0, 0, 3))
		var rec map[string]any
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		rec["person"] = "mallory"
		raw, _ := json.Marshal(rec)
		return bk.Put(k, raw)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, code = b.infrabot("audit", "verify", "--config", b.config)
	if code == 0 {
		t.Fatalf("audit verify passed on an edited log:\n%s", out)
	}
	expect(t, out, "audit record 3", "edited")
}

func TestEnvironmentStory(t *testing.T) {
	t.Parallel()
	sim := startSimulator(t)
	b := newBot(t, sim)

	out := b.shell("alice", "plan staging", "provision staging")
	expect(t, out, "create 3, keep 0, delete 0", "+ create staging-promoter-2 (m1.medium", "run 1 started",
		"✓ create staging-logserver-1 — ACTIVE", "run 1 `provision staging` by alice: succeeded")

	out = b.shell("carol", "status staging", "provision staging")
	expect(t, out, "staging: 3/3 servers (3 ACTIVE)", "staging-promoter-2", "10.", "carol may not provision")

	out = b.shell("bob", "provision staging")
	expect(t, out, "nothing to do: staging is as declared (3 servers)", "succeeded")
	refuse(t, out, "create staging")

	// A server made by hand in the same project, with a name that looks
	// like infrabot's, must survive the teardown.
	outsider := createOutsider(t, sim, "staging-logserver-1")

	out = b.shell("bob", "teardown staging", "approve 3")
	// Typed at the console, the request goes to the approvals channel.
	expect(t, out, "request 3 awaits approval by operator, admin in #default", "[#default] == request 3: teardown staging ==",
		"[#default]     - delete staging-logserver-1", "[#default]   [Approve: approve 3]", "you cannot approve your own request 3")
	// The console shows #default already: no second, one-line copy.
	refuse(t, out, "request 3: bob wants")
	refuse(t, out, "run 3 started")

	// The pending request survives a restart; alice approves it.
	out = b.shell("alice", "approve 3", "status staging")
	expect(t, out, "approved request 3 (`teardown staging` by bob); run 3 started",
		"✓ delete staging-promoter-2 — gone", "run 3 `teardown staging` by bob: succeeded", "staging torn down: 3 servers deleted")

	out = b.shell("carol", "status staging")
	expect(t, out, "staging: 0/3 servers")
	if _, err := servers.Get(context.Background(), computeClient(t, sim), outsider).Extract(); err != nil {
		t.Errorf("the server created outside infrabot is gone: %v", err)
	}

	// An expired request cannot be approved (scratch's rule expires in 1s).
	out = b.shell("alice", "provision scratch")
	expect(t, out, "succeeded")
	out = b.shell("bob", "teardown scratch")
	expect(t, out, "awaits approval by admin in #default (expires in 1s)")
	time.Sleep(1500 * time.Millisecond)
	out = b.shell("alice", "approve 5", "status scratch")
	expect(t, out, "request 5 is not awaiting approval: it expired", "scratch: 1/1 servers (1 ACTIVE)")
}

func computeClient(t *testing.T, sim *simulator.Simulator) *gophercloud.ServiceClient {
	t.Helper()
	provider := authenticate(t, sim)
	c, err := gopenstack.NewComputeV2(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createOutsider(t *testing.T, sim *simulator.Simulator, name string) string {
	t.Helper()
	c := computeClient(t, sim)
	ctx := context.Background()
	s, err := servers.Create(ctx, c, servers.CreateOpts{
		Name: name, FlavorRef: flavorID(t, sim), ImageRef: imageID(t, sim),
		Networks: []servers.Network{{UUID: networkID(t, sim)}},
	}, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

func flavorID(t *testing.T, sim *simulator.Simulator) string {
	t.Helper()
	pages, err := flavors.ListDetail(computeClient(t, sim), nil).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if f.Name == "m1.tiny" {
			return f.ID
		}
	}
	t.Fatal("no m1.tiny flavor")
	return ""
}

func imageID(t *testing.T, sim *simulator.Simulator) string {
	t.Helper()
	ctx := context.Background()
	provider := authenticate(t, sim)
	ic, err := gopenstack.NewImageV2(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := images.List(ic, images.ListOpts{Name: "cirros-0.6"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := images.ExtractImages(pages)
	if err != nil || len(all) == 0 {
		t.Fatalf("no cirros image: %v", err)
	}
	return all[0].ID
}

func networkID(t *testing.T, sim *simulator.Simulator) string {
	t.Helper()
	ctx := context.Background()
	provider := authenticate(t, sim)
	nc, err := gopenstack.NewNetworkV2(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := networks.List(nc, networks.ListOpts{Name: "private"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := networks.ExtractNetworks(pages)
	if err != nil || len(all) == 0 {
		t.Fatalf("no private network: %v", err)
	}
	return all[0].ID
}

// authenticate logs in to sim as its admin, as any OpenStack client would.
func authenticate(t *testing.T, sim *simulator.Simulator) *gophercloud.ProviderClient {
	t.Helper()
	provider, err := gopenstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: sim.AuthURL(), Username: "admin", Password: simPassword, TenantName: "admin", DomainName: "Default",
	})
	if err != nil {
		t.Fatal(err)
	}
	return provider
}

// TestShellLogsWhatChatDoesNotSee checks that the engine's own log reaches
// standard error: a cloud that cannot be reached is a short sentence in
// chat and the details in the log, without the password.
func TestShellLogsWhatChatDoesNotSee(t *testing.T) {
	t.Parallel()
	b := newBot(t, startSimulator(t))
	cfg, err := os.ReadFile(b.config)
	if err != nil {
		t.Fatal(err)
	}
	down := freeAddr(t) // nothing listens there once freeAddr returns
	cfg = []byte(strings.Replace(string(cfg), "auth_url: http://", "auth_url: http://"+down+"/v3 #", 1))
	if err := os.WriteFile(b.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "shell", "--config", b.config, "--user", "alice")
	cmd.Env = b.env
	cmd.Stdin = strings.NewReader("status staging\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("shell: %v\n%s", err, stderr.String())
	}
	refuse(t, stdout.String(), simPassword)
	expect(t, stderr.String(), "level=ERROR", "command failed", "status staging")
	refuse(t, stderr.String(), simPassword)
}
