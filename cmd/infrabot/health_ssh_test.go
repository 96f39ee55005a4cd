package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/ssh/sshtest"
	"github.com/infrabot/infrabot/config"
)

// servers stands for an environment's cloud in a test: Servers lists the
// servers given, whose addresses are sshds on loopback. Nothing else of
// the cloud is used by ssh checks (the embedded interface is nil).
type servers struct {
	actions.Cloud
	list []actions.Server
}

func (s servers) Servers(context.Context, string) ([]actions.Server, error) { return s.list, nil }

// TestSSHChecksThroughARealSSHD: ssh checks from the config run through
// the wiring — the deploy module's reading of `on:`, the environment's
// SSH executor — against a real OpenSSH sshd: exit status 0 is up, a
// non-zero status fails with the output's tail, a command past the
// check's timeout is stopped and fails, and a host whose key is not the
// one on record is refused, as a deploy would refuse it.
func TestSSHChecksThroughARealSSHD(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id")
	if err := os.WriteFile(keyFile, d.Client.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	known := sshtest.WriteKnownHosts(t, d.KnownHostsLine())
	wrong := sshtest.WriteKnownHosts(t, sshtest.NewKey(t).KnownHostsLine(d.Addr))
	flag := filepath.Join(dir, "promoter-running")
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("test.yaml", []byte(oneAdminConfig(dir, fmt.Sprintf(`channels:
  default: {}
clouds:
  sim: {simulator: true}
environments:
  staging:
    cloud: sim
    servers:
      - {name: promoter, flavor: m1.small, image: cirros-0.6, networks: [private]}
    ssh: {user: %[1]s, private_key: "${file:%[2]s}", known_hosts: %[3]s}
  production:
    cloud: sim
    servers:
      - {name: promoter, flavor: m1.small, image: cirros-0.6, networks: [private]}
    ssh: {user: %[1]s, private_key: "${file:%[2]s}", known_hosts: %[4]s}
checks:
  - name: promoter-service
    type: ssh
    environment: staging
    on: promoter
    run: "echo checking; if test -e %[5]s; then echo active; else echo inactive; exit 3; fi"
  - {name: promoter-slow, type: ssh, environment: staging, on: promoter, run: "sleep 30", timeout: 1s}
  - {name: production-promoter, type: ssh, environment: production, on: promoter, run: "true"}
`, d.User, keyFile, known, wrong, flag))))
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewApp(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	// The simulator's servers live on no network this test can reach: the
	// cloud lists servers whose address is the sshd.
	app.Clouds.conns["sim"] = &cloudConn{cloud: servers{list: []actions.Server{
		{ID: "s1", Name: "staging-promoter-1", Status: actions.StatusActive, Addresses: []string{d.Addr}},
		{ID: "p1", Name: "production-promoter-1", Status: actions.StatusActive, Addresses: []string{d.Addr}},
	}}}
	check := func(name string) string {
		t.Helper()
		reply := app.Engine.Execute(context.Background(), actions.Invocation{Person: "alice", Text: "check " + name, Origin: actions.Origin{Platform: "console"}})
		return reply.Summary
	}
	for _, c := range []struct{ name, want string }{
		{"promoter-service", "check promoter-service passed in"},
		{"promoter-service", "staging-promoter-1: exit 0: active"},
		{"promoter-slow", "check promoter-slow failed in"},
		{"promoter-slow", "no answer within 1s"},
		{"production-promoter", "check production-promoter failed in"},
		{"production-promoter", "production-promoter-1: the host key of"},
		{"production-promoter", "has changed: it offers"},
	} {
		if got := check(c.name); !strings.Contains(got, c.want) {
			t.Errorf("check %s: %q, want %q", c.name, got, c.want)
		}
	}
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	if got, want := check("promoter-service"), "staging-promoter-1: exited with status 3: checking | inactive"; !strings.Contains(got, want) {
		t.Errorf("check promoter-service with the service down: %q, want %q", got, want)
	}
}
