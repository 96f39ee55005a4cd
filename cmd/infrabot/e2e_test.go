package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/actions/actionstest"
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
	// The race detector sleeps a second in a process that has returned
	// from main, for goroutines still running to race meanwhile. The
	// binary is started about 40 times here, each time once its work is
	// done and its store closed: half of this package's time was these
	// seconds. A race while it works is still reported, and fails the
	// test (exit status 66).
	if !strings.Contains(os.Getenv("GORACE"), "atexit_sleep_ms") {
		os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
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
admin: {listen: "127.0.0.1:0"}
people:
  alice: {roles: [admin]}
  bob:   {roles: [operator]}
  carol: {roles: [viewer]}
  dave:  {roles: [admin]}
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
	// And the other way round: an admin's lock broken by another admin.
	b.shell("alice", `lock scratch "rebuild"`)
	out = b.shell("dave", "unlock scratch --force")
	expect(t, out, "alice's lock on scratch is broken", `[dm alice] dave broke your lock on scratch (you locked it for "rebuild")`)

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
	down := actionstest.FreeAddr(t) // nothing listens there once FreeAddr returns
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

// typist drives one `infrabot shell` as a person at it would: a line is
// typed only once the answer to the one before has come.
type typist struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	seen  []string // every line printed so far
}

func startShell(t *testing.T, dir string, env []string, args ...string) *typist {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"shell"}, args...)...)
	cmd.Dir, cmd.Env = dir, env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ty := &typist{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			ty.lines <- sc.Text()
		}
		close(ty.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	})
	return ty
}

func (ty *typist) typeLine(s string) {
	ty.t.Helper()
	if _, err := io.WriteString(ty.stdin, s+"\n"); err != nil {
		ty.t.Fatal(err)
	}
}

// waitFor reads output until a line holds s.
func (ty *typist) waitFor(s string) {
	ty.t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case l, ok := <-ty.lines:
			if !ok {
				ty.t.Fatalf("the shell ended before printing %q:\n%s", s, strings.Join(ty.seen, "\n"))
			}
			ty.seen = append(ty.seen, l)
			if strings.Contains(l, s) {
				return
			}
		case <-timeout:
			ty.t.Fatalf("no %q after a minute:\n%s", s, strings.Join(ty.seen, "\n"))
		}
	}
}

// expectBlock reads output until it matches want, line by line after
// masking, where a line "…" stands for any number of lines. It fails as
// soon as the output can no longer match.
func (ty *typist) expectBlock(want []string) {
	ty.t.Helper()
	var got []string
	timeout := time.After(time.Minute)
	for {
		complete, possible := matchLines(want, got)
		if !possible {
			ty.t.Fatalf("output differs from the README:\n--- want\n%s\n--- got\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
		if complete {
			return
		}
		select {
		case l, ok := <-ty.lines:
			if !ok {
				ty.t.Fatalf("the shell ended early:\n--- want\n%s\n--- got\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
			}
			got = append(got, l)
		case <-timeout:
			ty.t.Fatalf("output stopped short of the README:\n--- want\n%s\n--- got\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
	}
}

// matchLines says whether got is all of want (complete) and whether it
// can still become so with more lines (possible).
func matchLines(want, got []string) (complete, possible bool) {
	if len(got) == 0 {
		for _, w := range want {
			if !isAnyLines(w) {
				return false, true
			}
		}
		return true, true
	}
	if len(want) == 0 {
		return false, false
	}
	if isAnyLines(want[0]) {
		ends, endsLater := matchLines(want[1:], got)   // the … stops here
		takes, takesLater := matchLines(want, got[1:]) // or takes got[0]
		return ends || takes, endsLater || takesLater
	}
	if mask(want[0]) != mask(got[0]) {
		return false, false
	}
	return matchLines(want[1:], got[1:])
}

// isAnyLines reports whether a README line is "…", which stands for any
// number of lines.
func isAnyLines(s string) bool { return strings.TrimSpace(s) == "…" }

var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?`), "DATE"},
	{regexp.MustCompile(`\d\d:\d\d:\d\d UTC`), "TIME"},
	{regexp.MustCompile(`\b(\d+m\d\ds|\d+ms|\d+s)\b`), "DUR"},
	{regexp.MustCompile(`\bid [0-9a-f]{8}\b`), "id ID"},
	{regexp.MustCompile(`\([0-9a-f]{16}\)`), "(HASH)"},
	{regexp.MustCompile(`\b10\.0\.0\.\d+\b`), "10.0.0.N"},
}

// mask hides what changes from one run to the next: times, durations,
// server ids, plan hashes and addresses.
func mask(s string) string {
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	return s
}

// readmeSession returns the README's sample session, split into what
// each line typed should answer: its first line is the prompt and the
// line typed.
func readmeSession(t *testing.T) [][]string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "```text\nalice> ")
	if !ok {
		t.Fatal("the README has no ```text session starting with alice>")
	}
	session, _, _ := strings.Cut("alice> "+rest, "```")
	prompt := regexp.MustCompile(`^[a-z]+> `)
	var blocks [][]string
	for _, l := range strings.Split(strings.TrimRight(session, "\n"), "\n") {
		if prompt.MatchString(l) {
			blocks = append(blocks, nil)
		}
		blocks[len(blocks)-1] = append(blocks[len(blocks)-1], l)
	}
	return blocks
}

// TestReadmeSession types the README's sample session into `infrabot
// shell` on the built-in demo config, as `make run` starts it, and checks
// every line it prints against the README, with times, ids and addresses
// masked.
func TestReadmeSession(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ty := startShell(t, dir, os.Environ(), "--user", "alice")
	for _, block := range readmeSession(t) {
		_, typed, _ := strings.Cut(block[0], "> ")
		ty.typeLine(typed)
		ty.expectBlock(block)
	}
	ty.stdin.Close()
	if err := ty.cmd.Wait(); err != nil {
		t.Fatalf("the shell did not end cleanly: %v", err)
	}
	for l := range ty.lines {
		t.Errorf("printed after the session: %s", l)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "demo.db")); err != nil {
		t.Errorf("the demo's state is not in ./data: %v", err)
	}
}

func TestMatchLines(t *testing.T) {
	t.Parallel()
	want := []string{"a", "…", "z 4s"}
	for _, tc := range []struct {
		got                []string
		complete, possible bool
	}{
		{nil, false, true},
		{[]string{"a"}, false, true},
		{[]string{"a", "z 9s"}, true, true},
		{[]string{"a", "b", "c", "z 12ms"}, true, true},
		{[]string{"a", "b"}, false, true},
		{[]string{"b"}, false, false},
		{[]string{"a", "z 1s", "q"}, false, true}, // "z" may have been in the …
	} {
		c, p := matchLines(want, tc.got)
		if c != tc.complete || p != tc.possible {
			t.Errorf("matchLines(%q) = %v, %v; want %v, %v", tc.got, c, p, tc.complete, tc.possible)
		}
	}
}

// TestLongLineAnsweredSessionGoesOn sends a line far over any buffer,
// then a short one: both are answered.
func TestLongLineAnsweredSessionGoesOn(t *testing.T) {
	t.Parallel()
	b := newBot(t, startSimulator(t))
	out := b.shell("alice", strings.Repeat("x", 70*1024), "whoami", strings.Repeat("y", 5*1024), "whoami")
	expect(t, out, "that command is too long (71680 bytes; the limit is 4096)", "that command is too long (5120 bytes; the limit is 4096)")
	if n := strings.Count(out, "you are alice"); n != 2 {
		t.Errorf("whoami answered %d times, want 2:\n%s", n, out)
	}
	refuse(t, out, "token too long", strings.Repeat("x", 1024))
}

// slowBot is a bot whose servers stay in BUILD far longer than any test.
func slowBot(t *testing.T) *bot {
	t.Helper()
	sim := simulator.New(simulator.Options{Password: simPassword, BuildDelay: time.Hour, DeleteDelay: 50 * time.Millisecond})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return newBot(t, sim)
}

// TestStopSignalInterruptsRuns checks that a stop (SIGTERM, or Ctrl-C's
// SIGINT) reaches the shell while it waits for input that never comes,
// lets the run go on for the grace period, then marks it interrupted and
// leaves.
func TestStopSignalInterruptsRuns(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			b := slowBot(t)
			ty := startShell(t, b.dir, b.env, "--config", b.config, "--user", "alice", "--grace", "1s")
			ty.typeLine("provision staging")
			ty.waitFor("3 building") // the servers are being built; input stays open
			ty.cmd.Process.Signal(sig)
			ty.waitFor("stopping: runs in progress may finish within 1s, then they are interrupted")
			ty.waitFor("run 1 `provision staging` by alice: interrupted")
			exited := make(chan error, 1)
			go func() { exited <- ty.cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("the shell did not end cleanly: %v", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("the shell is still running a minute after the stop")
			}
			expect(t, b.shell("alice", "run 1"), "run 1 `provision staging` by alice: interrupted", "it was not re-run")
		})
	}
}

// TestSecondInterruptLeavesAtOnce checks that a second Ctrl-C does not
// wait for the grace period, and that the run it cut off is found and
// marked interrupted at the next start.
func TestSecondInterruptLeavesAtOnce(t *testing.T) {
	t.Parallel()
	b := slowBot(t)
	ty := startShell(t, b.dir, b.env, "--config", b.config, "--user", "alice", "--grace", "1h")
	ty.typeLine("provision staging")
	ty.waitFor("3 building")
	ty.cmd.Process.Signal(syscall.SIGINT)
	ty.waitFor("stopping:")
	ty.cmd.Process.Signal(syscall.SIGINT)
	err := ty.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, want status 130", err)
	}
	out := b.shell("alice", "run 1")
	expect(t, out, "run 1 (`provision staging` by alice) was interrupted", "run 1 `provision staging` by alice: interrupted")
}

// TestFirstCommandsRefuseCleanly checks what a newcomer meets first:
// `run` on the demo config refuses before it creates anything, a wrong
// flag is said once, and config check counts in words.
func TestFirstCommandsRefuseCleanly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(binary, "run")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("run without a chat adapter started:\n%s", out)
	}
	expect(t, string(out), "no chat adapter is configured")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("run refused, yet created %v", entries)
	}

	out, _ = exec.Command(binary, "shell", "--nope").CombinedOutput()
	if n := strings.Count(string(out), "flag provided but not defined: -nope"); n != 1 {
		t.Errorf("the wrong flag is reported %d times:\n%s", n, out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("storage:\n  pathh: x\n"), 0o600)
	out, err = exec.Command(binary, "config", "check", bad).CombinedOutput()
	if want := bad + ":2: unknown key \"pathh\" in storage (did you mean \"path\"?)\n1 problem\n"; err == nil || string(out) != want {
		t.Errorf("config check: %v\n%s\nwant:\n%s", err, out, want)
	}
	roles := filepath.Join(dir, "roles.yaml")
	os.WriteFile(roles, []byte("roles:\n  steward: {allow: [lock, unlock, unlock-force, provison]}\n"), 0o600)
	out, err = exec.Command(binary, "config", "check", roles).CombinedOutput()
	if want := roles + ":2: role steward allows \"provison\", which is not a command (did you mean `provision`?)\n1 problem\n"; err == nil || string(out) != want {
		t.Errorf("config check: %v\n%s\nwant:\n%s", err, out, want)
	}
}
