package deploy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/deploy"
	"github.com/infrabot/infrabot/actions/environments"
	"github.com/infrabot/infrabot/actions/ssh"
	"github.com/infrabot/infrabot/actions/ssh/sshtest"
)

// fakeCloud is a cloud whose servers become ACTIVE at once, each at an
// address the test gives (a loopback port in front of an sshd).
type fakeCloud struct {
	mu      sync.Mutex
	servers []actions.Server
	addr    func(name string) string
}

func (c *fakeCloud) Servers(ctx context.Context, env string) ([]actions.Server, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []actions.Server
	for _, s := range c.servers {
		if s.Env() == env {
			out = append(out, s)
		}
	}
	return out, nil
}

func (c *fakeCloud) Create(ctx context.Context, spec actions.ServerSpec) (actions.Server, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := actions.Server{ID: fmt.Sprintf("id-%d", len(c.servers)+1), Name: spec.Name, Status: actions.StatusBuild, Metadata: spec.Metadata}
	c.servers = append(c.servers, s)
	return s, nil
}

func (c *fakeCloud) WaitActive(ctx context.Context, id string, seen func(actions.Server)) (actions.Server, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.servers {
		if s := &c.servers[i]; s.ID == id {
			s.Status, s.Addresses = actions.StatusActive, []string{c.addr(s.Name)}
			return *s, nil
		}
	}
	return actions.Server{}, actions.Errorf(actions.NotFound, "no server %s", id)
}

func (c *fakeCloud) Delete(ctx context.Context, id string) error { return nil }
func (c *fakeCloud) WaitGone(ctx context.Context, id string) error {
	return nil
}

// Resolve knows every flavor, image and network.
func (c *fakeCloud) Resolve(ctx context.Context, specs []actions.ServerSpec) error { return nil }

func (c *fakeCloud) Limits(ctx context.Context) (actions.Limits, error) {
	free := actions.Usage{Max: -1}
	return actions.Limits{Instances: free, Cores: free, RAMMB: free}, nil
}

func (c *fakeCloud) Flavor(ctx context.Context, name string) (actions.Flavor, error) {
	return actions.Flavor{Name: name, VCPUs: 1, RAMMB: 512}, nil
}

// bootingHost is a loopback port in front of an sshd that is not up yet:
// it closes the first refusals connections at once (as a server still
// booting does), then forwards to the sshd.
type bootingHost struct {
	l        net.Listener
	mu       sync.Mutex
	refusals int
	tries    int
}

func newBootingHost(t *testing.T, to string, refusals int) *bootingHost {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &bootingHost{l: l, refusals: refusals}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.tries++
			up := b.tries > b.refusals
			b.mu.Unlock()
			if !up {
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer s.Close()
				// Either side ending ends both, as a real connection does.
				go func() {
					io.Copy(s, c)
					s.Close()
					c.Close()
				}()
				io.Copy(c, s)
			}()
		}
	}()
	return b
}

func (b *bootingHost) Addr() string { return b.l.Addr().String() }

func (b *bootingHost) Tries() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tries
}

// bootstrapWorld is provision and deploy wired as cmd/infrabot wires
// them: the environments module hands the servers it creates to the
// deploy module's Bootstrap.
func bootstrapWorld(t *testing.T, cloud *fakeCloud, steps []deploy.Step, remote func(h *actions.Handle) deploy.Remote) *actionstest.World {
	t.Helper()
	return actionstest.New(t, actionstest.Options{Setup: func(w *actionstest.World) {
		eh, err := w.Engine.Module(environments.Name)
		if err != nil {
			t.Fatal(err)
		}
		envs := environments.New(eh, []environments.Environment{{Name: "staging", Cloud: "fake", Servers: []environments.ServerDecl{
			{Name: "web", Count: 2, Flavor: "m1.small", Image: "debian-12"},
		}}}, func(context.Context, string) (actions.Cloud, error) { return cloud, nil })
		dh, err := w.Engine.Module(deploy.Name)
		if err != nil {
			t.Fatal(err)
		}
		mod := deploy.New(dh, []deploy.Environment{{Name: "staging", Servers: []string{"web"}, Bootstrap: steps, ReadyTimeout: 20 * time.Second}},
			deploy.Options{Remotes: map[string]deploy.Remote{"staging": remote(dh)}, Inventory: cloud.Servers,
				FlushEvery: 10 * time.Millisecond, ReadyBackoff: 20 * time.Millisecond})
		envs.BootstrapWith(mod)
	}})
}

func TestProvisionBootstrapsNewServersOnceSSHIsUp(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	hosts := map[string]*bootingHost{
		"staging-web-1": newBootingHost(t, d.Addr, 2),
		"staging-web-2": newBootingHost(t, d.Addr, 3),
	}
	cloud := &fakeCloud{addr: func(name string) string { return hosts[name].Addr() }}
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	w := bootstrapWorld(t, cloud, []deploy.Step{step(t, "all", `echo "bootstrapped as $(id -un)"`)}, func(h *actions.Handle) deploy.Remote {
		r, err := ssh.New(ssh.Config{
			User: d.User, PrivateKey: d.Client.PEM, KnownHosts: []string{knownHosts}, TrustOnFirstUse: true,
			OnTrust: func(k ssh.TrustedKey) {
				deploy.AuditTrust(context.Background(), h, "staging", deploy.TrustedKey{Host: k.Host, Type: k.Type, Fingerprint: k.Fingerprint, File: k.File})
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	})
	w.Expect(w.As("bob", "provision staging"), false, "run 1 started")
	w.Engine.Wait()
	r := w.Run(1)
	if r.State != actions.Succeeded {
		t.Fatalf("provision %s: %s", r.State, r.Error)
	}
	var steps []string
	for _, s := range r.Steps {
		steps = append(steps, fmt.Sprintf("%s %s: %s", s.State, s.Name, s.Detail))
	}
	text := strings.Join(steps, "\n")
	contains(t, "the provision's steps", text,
		"succeeded create staging-web-1: ACTIVE",
		"succeeded wait for SSH on staging-web-1: up after 3 attempts",
		"succeeded wait for SSH on staging-web-2: up after 4 attempts",
		"succeeded bootstrap step 1/1 on staging-web-1: 1 line of output",
		"succeeded bootstrap step 1/1 on staging-web-2: 1 line of output")
	log := strings.Join(w.As("alice", "run 1 log").Lines, "\n")
	contains(t, "`run 1 log`", log, "── bootstrap step 1/1 on staging-web-2 ──", "   bootstrapped as "+d.User)

	// The keys taken on first use are audited and recorded.
	entries, err := w.DB.Tail(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	trusted := 0
	for _, e := range entries {
		if e.Event == "host-key-trusted" && e.Env == "staging" && strings.Contains(e.Detail, d.HostKey.Fingerprint()) {
			trusted++
		}
	}
	if trusted != 2 {
		t.Errorf("%d host keys trusted on first use were audited, want 2", trusted)
	}
	if b, _ := os.ReadFile(knownHosts); strings.Count(string(b), "\n") != 2 {
		t.Errorf("known_hosts after bootstrap:\n%s", b)
	}
}

func TestBootstrapDoesNotRetryARefusedHostKey(t *testing.T) {
	t.Parallel()
	client := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, client)
	hosts := map[string]*bootingHost{
		"staging-web-1": newBootingHost(t, srv.Addr, 0),
		"staging-web-2": newBootingHost(t, srv.Addr, 0),
	}
	cloud := &fakeCloud{addr: func(name string) string { return hosts[name].Addr() }}
	w := bootstrapWorld(t, cloud, []deploy.Step{step(t, "all", "echo never")}, func(h *actions.Handle) deploy.Remote {
		r, err := ssh.New(ssh.Config{User: "test", PrivateKey: client.PEM, KnownHosts: []string{sshtest.WriteKnownHosts(t)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	})
	w.Expect(w.As("bob", "provision staging"), false, "run 1 started")
	w.Engine.Wait()
	r := w.Run(1)
	if r.State != actions.Failed || !strings.Contains(r.Error, "SSH did not come up on") || !strings.Contains(r.Error, "not known") {
		t.Errorf("provision %s: %q", r.State, r.Error)
	}
	// One try per server: an unknown key is refused, not waited out.
	for name, h := range hosts {
		if n := h.Tries(); n != 1 {
			t.Errorf("%d connections to %s; a refused host key must not be retried", n, name)
		}
	}
	if len(srv.Execs()) != 0 {
		t.Errorf("ran %q on a host whose key was refused", srv.Execs())
	}
}
