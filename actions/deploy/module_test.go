package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/deploy"
	"github.com/infrabot/infrabot/actions/ssh"
	"github.com/infrabot/infrabot/actions/ssh/sshtest"
)

// These tests tell deploy's stories through the engine: a world
// (actionstest: the real engine on a real bbolt store) with the deploy
// module wired to a real SSH executor (actions/ssh) talking to a real
// OpenSSH sshd on 127.0.0.1 (sshtest.StartSSHD), or to the in-process
// server where that is simpler, and an inventory of servers whose
// addresses are those sshd ports.

// inventory is the servers an environment has, as a cloud would list them.
type inventory struct {
	mu      sync.Mutex
	servers map[string][]actions.Server
}

func (inv *inventory) set(env string, servers ...actions.Server) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.servers == nil {
		inv.servers = map[string][]actions.Server{}
	}
	inv.servers[env] = servers
}

func (inv *inventory) list(ctx context.Context, env string) ([]actions.Server, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return append([]actions.Server(nil), inv.servers[env]...), nil
}

func server(env, name, addr string) actions.Server {
	return actions.Server{ID: "id-" + env + "-" + name, Name: env + "-" + name, Status: actions.StatusActive, Addresses: []string{addr}}
}

func step(t testing.TB, on, cmd string) deploy.Step {
	t.Helper()
	c, err := deploy.ParseCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return deploy.Step{Command: c, On: on}
}

func refParam(t testing.TB) deploy.Param {
	t.Helper()
	re, err := deploy.CompilePattern(`[A-Za-z0-9._/-]{1,100}`)
	if err != nil {
		t.Fatal(err)
	}
	return deploy.Param{Name: "ref", Pattern: re, Default: "master", HasDefault: true}
}

// story is a world with the deploy module for staging and production,
// both with env's steps.
type story struct {
	*actionstest.World
	inv *inventory
	mod *deploy.Module
}

// newStory wires the deploy module; remote makes each environment's
// executor (it may audit trusted keys through h).
func newStory(t *testing.T, env deploy.Environment, remote func(h *actions.Handle, env string) deploy.Remote) *story {
	t.Helper()
	s := &story{inv: &inventory{}}
	s.World = actionstest.New(t, actionstest.Options{
		Redactor: actions.NewRedactor("hunter2-deploy-secret"),
		Setup: func(w *actionstest.World) {
			h, err := w.Engine.Module(deploy.Name)
			if err != nil {
				t.Fatal(err)
			}
			var envs []deploy.Environment
			remotes := map[string]deploy.Remote{}
			for _, name := range []string{"staging", "production"} {
				e := env
				e.Name = name
				envs = append(envs, e)
				remotes[name] = remote(h, name)
			}
			s.mod = deploy.New(h, envs, deploy.Options{
				Remotes: remotes, Inventory: s.inv.list,
				FlushEvery: 10 * time.Millisecond, ReadyBackoff: 10 * time.Millisecond,
			})
		},
	})
	return s
}

// sshdRemote returns an executor logging in to sshds with client, knowing
// known; bastion, when not "", is the jump host.
func sshdRemote(t testing.TB, user string, client sshtest.Key, bastion string, known ...string) deploy.Remote {
	t.Helper()
	cfg := ssh.Config{User: user, PrivateKey: client.PEM, KnownHosts: []string{sshtest.WriteKnownHosts(t, known...)}, CancelGrace: time.Second}
	if bastion != "" {
		cfg.Bastion = &ssh.Hop{Addr: bastion}
	}
	r, err := ssh.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// message returns the text of run id's live message as the chat shows it.
func (s *story) message(id int64) string {
	m, ok := s.Chat.Find(fmt.Sprintf("run %d `", id))
	if !ok {
		return ""
	}
	return m.Summary + "\n" + strings.Join(m.Lines, "\n") + "\n" + m.Footer
}

func (s *story) log(id int64) string {
	r := s.As("alice", fmt.Sprintf("run %d log", id))
	return strings.Join(r.Lines, "\n")
}

func contains(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

func TestDeployRunsStepsAndStreamsOutput(t *testing.T) {
	t.Parallel()
	client := sshtest.NewKey(t)
	web1 := sshtest.StartSSHD(t, sshtest.SSHDOptions{Client: client})
	web2 := sshtest.StartSSHD(t, sshtest.SSHDOptions{Client: client})
	gate := filepath.Join(t.TempDir(), "go-on")
	env := deploy.Environment{
		Servers: []string{"web"},
		Targets: map[string][]deploy.Step{"default": {
			step(t, "all", `echo deploying {{ .ref }} on "$SSH_CONNECTION"; echo "password hunter2-deploy-secret"; echo "step one done"; while [ ! -e `+gate+` ]; do sleep 0.05; done; echo finished`),
			step(t, "web", `echo second step`),
		}},
		Params: []deploy.Param{refParam(t)},
	}
	s := newStory(t, env, func(h *actions.Handle, env string) deploy.Remote {
		return sshdRemote(t, web1.User, client, "", web1.KnownHostsLine(), web2.KnownHostsLine())
	})
	s.inv.set("staging", server("staging", "web-1", web1.Addr), server("staging", "web-2", web2.Addr))

	s.Expect(s.As("bob", "deploy staging --ref=v1.2"), false, "run 1 started")
	// The lines arrive while the command still runs: streamed, per host.
	actionstest.WaitFor(t, func() bool {
		m := s.message(1)
		return strings.Count(m, "│ step one done") == 2
	})
	contains(t, "the live message", s.message(1), "… step 1/2 on staging-web-1", "… step 1/2 on staging-web-2",
		"│ deploying v1.2 on 127.0.0.1", "│ password [redacted]", "`run 1 log` shows the whole output")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Engine.Wait()
	r := s.Run(1)
	if r.State != actions.Succeeded {
		t.Fatalf("run 1 %s: %s\n%s", r.State, r.Error, s.message(1))
	}
	contains(t, "the finished message", s.message(1), "✓ step 1/2 on staging-web-1 — 4 lines of output", "✓ step 2/2 on staging-web-2 — 1 line of output")
	log := s.log(1)
	contains(t, "`run 1 log`", log, "── step 1/2 on staging-web-1 ──", "   deploying v1.2 on 127.0.0.1", "   finished",
		"── step 2/2 on staging-web-1 ──", "   second step", "✓ step 2/2 on staging-web-2")
	if strings.Contains(log+s.message(1), "hunter2") {
		t.Error("a secret reached the log or the chat")
	}
	// The plan said which step runs on which hosts, with the value quoted.
	contains(t, "the plan", strings.Join(r.Plan.Lines, "\n"),
		"1. on all (staging-web-1, staging-web-2): echo deploying 'v1.2' on \"$SSH_CONNECTION\";", "2. on web (staging-web-1, staging-web-2): echo second step")
	if r.Plan.Summary != "deploy default to staging: 2 steps on 2 hosts" {
		t.Errorf("plan summary %q", r.Plan.Summary)
	}
}

func TestDeployFailingStepFailsTheRun(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	env := deploy.Environment{Servers: []string{"logserver"}, Targets: map[string][]deploy.Step{"default": {
		step(t, "all", "echo 'restarting httpd'; echo 'Job for httpd.service failed' >&2; exit 3"),
		step(t, "all", "echo never"),
	}}}
	s := newStory(t, env, func(*actions.Handle, string) deploy.Remote {
		return sshdRemote(t, d.User, d.Client, "", d.KnownHostsLine())
	})
	s.inv.set("staging", server("staging", "logserver-1", d.Addr))
	s.Expect(s.As("bob", "deploy staging"), false, "run 1 started")
	s.Engine.Wait()
	r := s.Run(1)
	if r.State != actions.Failed || !strings.Contains(r.Error, "step 1/2 (`echo 'restarting httpd'") || !strings.Contains(r.Error, "staging-logserver-1: exited with status 3") {
		t.Errorf("run 1 %s: %q", r.State, r.Error)
	}
	contains(t, "the message", s.message(1), "✗ step 1/2 on staging-logserver-1 — exited with status 3",
		"│ restarting httpd", "│ Job for httpd.service failed")
	if strings.Contains(s.log(1), "never") || len(r.Steps) != 1 {
		t.Errorf("the second step ran after the first failed: %+v", r.Steps)
	}
}

func TestDeployRefusesAChangedHostKey(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	old := sshtest.NewKey(t)
	env := deploy.Environment{Servers: []string{"web"}, Targets: map[string][]deploy.Step{"default": {step(t, "all", "echo should not run")}}}
	s := newStory(t, env, func(*actions.Handle, string) deploy.Remote {
		return sshdRemote(t, d.User, d.Client, "", old.KnownHostsLine(d.Addr))
	})
	s.inv.set("staging", server("staging", "web-1", d.Addr))
	s.Expect(s.As("bob", "deploy staging"), false, "run 1 started")
	s.Engine.Wait()
	r := s.Run(1)
	if r.State != actions.Failed || !strings.Contains(r.Error, "host key") || !strings.Contains(r.Error, d.HostKey.Fingerprint()) {
		t.Errorf("run 1 %s: %q; want refused naming the key offered", r.State, r.Error)
	}
	if strings.Contains(d.Log(), "Accepted publickey") {
		t.Error("infrabot logged in to a host whose key changed")
	}
}

func TestDeployStepTimesOut(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	// The first step makes the connection, so that the second one's
	// timeout is spent on its command (far shorter than it), not on the
	// SSH handshake, however loaded the machine.
	st := step(t, "all", "echo waiting; sleep 300")
	st.Timeout = 3 * time.Second
	s := newStory(t, deploy.Environment{Servers: []string{"web"}, Targets: map[string][]deploy.Step{"default": {step(t, "all", "echo connected"), st}}},
		func(*actions.Handle, string) deploy.Remote {
			return sshdRemote(t, d.User, d.Client, "", d.KnownHostsLine())
		})
	s.inv.set("staging", server("staging", "web-1", d.Addr))
	s.Expect(s.As("bob", "deploy staging"), false, "run 1 started")
	s.Engine.Wait()
	r := s.Run(1)
	if r.State != actions.Failed || !strings.Contains(r.Error, "step 2/2 (`echo waiting; sleep 300`) failed on staging-web-1: timed out on "+d.Addr+"; the command was stopped") {
		t.Errorf("run 1 %s: %q", r.State, r.Error)
	}
	contains(t, "the message", s.message(1), "│ waiting")
}

func TestCancelStopsALongRemoteCommand(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	s := newStory(t, deploy.Environment{Servers: []string{"web"}, Targets: map[string][]deploy.Step{"default": {
		step(t, "all", "sleep 300 & echo \"pid $!\"; wait"),
	}}}, func(*actions.Handle, string) deploy.Remote {
		return sshdRemote(t, d.User, d.Client, "", d.KnownHostsLine())
	})
	s.inv.set("staging", server("staging", "web-1", d.Addr))
	s.Expect(s.As("bob", "deploy staging"), false, "run 1 started")
	var pid int
	actionstest.WaitFor(t, func() bool {
		m := s.message(1)
		i := strings.Index(m, "│ pid ")
		if i < 0 {
			return false
		}
		pid, _ = strconv.Atoi(strings.Fields(m[i+len("│ pid "):])[0])
		return pid > 0
	})
	s.Expect(s.As("bob", "cancel 1"), false, "cancelling run 1")
	s.Engine.Wait()
	if r := s.Run(1); r.State != actions.Cancelled {
		t.Errorf("run 1 %s: %s", r.State, r.Error)
	}
	contains(t, "the message", s.message(1), "✗ step 1/1 on staging-web-1 — cancelled")
	// The remote process is gone, not left running on the host.
	actionstest.WaitFor(t, func() bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) })
}

func TestDeployThroughAJumpHost(t *testing.T) {
	t.Parallel()
	client := sshtest.NewKey(t)
	bastion := sshtest.StartSSHD(t, sshtest.SSHDOptions{Client: client, Extra: []string{"LogLevel DEBUG1"}})
	target := sshtest.StartSSHD(t, sshtest.SSHDOptions{Client: client})
	env := deploy.Environment{Servers: []string{"web"}, Bastion: bastion.Addr, Targets: map[string][]deploy.Step{"default": {
		step(t, "bastion", "echo on the bastion"),
		step(t, "all", "echo on the target"),
	}}}
	s := newStory(t, env, func(*actions.Handle, string) deploy.Remote {
		return sshdRemote(t, bastion.User, client, bastion.Addr, bastion.KnownHostsLine(), target.KnownHostsLine())
	})
	s.inv.set("staging", server("staging", "web-1", target.Addr))
	s.Expect(s.As("bob", "deploy staging"), false, "run 1 started")
	s.Engine.Wait()
	if r := s.Run(1); r.State != actions.Succeeded {
		t.Fatalf("run 1 %s: %s", r.State, r.Error)
	}
	contains(t, "`run 1 log`", s.log(1), "── step 1/2 on bastion ──", "   on the bastion", "── step 2/2 on staging-web-1 ──", "   on the target")
	_, port, _ := strings.Cut(target.Addr, ":")
	if log := bastion.Log(); !strings.Contains(log, "direct-tcpip") || !strings.Contains(log, "port "+port) {
		t.Errorf("the bastion did not forward to %s:\n%s", target.Addr, log)
	}
}

func TestDeployParametersAreNeverInterpreted(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	dir := t.TempDir()
	anything, err := deploy.CompilePattern(`[^\n]{1,200}`)
	if err != nil {
		t.Fatal(err)
	}
	env := deploy.Environment{Servers: []string{"web"}, Targets: map[string][]deploy.Step{"default": {
		step(t, "all", "cd "+dir+" && echo ref={{ .ref }} && printf 'msg=[%s]\\n' {{ .msg }}"),
	}}, Params: []deploy.Param{refParam(t), {Name: "msg", Pattern: anything, Default: "none", HasDefault: true}}}
	s := newStory(t, env, func(*actions.Handle, string) deploy.Remote {
		return sshdRemote(t, d.User, d.Client, "", d.KnownHostsLine())
	})
	s.inv.set("staging", server("staging", "web-1", d.Addr))

	// A value with shell metacharacters is refused by its pattern, and no
	// run is made.
	s.Expect(s.As("bob", `deploy staging "--ref=v1; touch PWNED"`), true)
	s.Expect(s.As("bob", `deploy staging --ref='$(touch PWNED)'`), true, "the value of --ref does not match its pattern")
	if runs, _ := s.DB.Runs(context.Background(), actions.RunFilter{}); len(runs) != 0 {
		t.Fatalf("a refused parameter made %d runs", len(runs))
	}
	// One its pattern lets through reaches the command as one word,
	// never interpreted by the shell.
	nasty := `'; touch PWNED; echo $(touch PWNED2) "x`
	s.Expect(s.As("bob", "deploy staging --msg=\""+strings.ReplaceAll(nasty, `"`, `\"`)+"\""), false, "run 1 started")
	s.Engine.Wait()
	if r := s.Run(1); r.State != actions.Succeeded {
		t.Fatalf("run 1 %s: %s", r.State, r.Error)
	}
	contains(t, "`run 1 log`", s.log(1), "   ref=master", "   msg=["+nasty+"]")
	for _, f := range []string{"PWNED", "PWNED2"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("the shell interpreted the value: %s exists", f)
		}
	}
	s.Expect(s.As("bob", "deploy staging --branch=x"), true, "no flag --branch")
	s.Expect(s.As("bob", "deploy staging nosuch"), true, `staging has no deploy target "nosuch"; its targets: default`)
}

// TestProductionDeploysNeedApproval runs against the in-process server:
// it is about policy, not SSH.
func TestProductionDeploysNeedApproval(t *testing.T) {
	t.Parallel()
	client := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, client)
	env := deploy.Environment{Servers: []string{"web"}, Targets: map[string][]deploy.Step{"default": {step(t, "all", "echo deployed {{ .ref }}")}},
		Params: []deploy.Param{refParam(t)}}
	s := newStory(t, env, func(*actions.Handle, string) deploy.Remote {
		return sshdRemote(t, "test", client, "", srv.HostKey().KnownHostsLine(srv.Addr))
	})
	s.inv.set("production", server("production", "web-1", srv.Addr))
	s.Expect(s.As("alice", "deploy production --ref=v2.0"), false, "request 1 awaits approval by admin")
	// The approval request shows what will run where.
	m, _ := s.Chat.Find("request 1")
	contains(t, "the approval request", strings.Join(m.Lines, "\n"), "1. on all (production-web-1): echo deployed 'v2.0'")
	if len(srv.Execs()) != 0 {
		t.Fatal("something ran before the approval")
	}
	s.Expect(s.As("alice", "approve 1"), true)
	s.Expect(s.As("dave", "approve 1"), false, "approved")
	s.Engine.Wait()
	if r := s.Run(1); r.State != actions.Succeeded {
		t.Fatalf("run 1 %s: %s", r.State, r.Error)
	}
	contains(t, "`run 1 log`", s.log(1), "   deployed v2.0")

}

// TestADeployHoldsTheEnvironmentLock: a second deploy (or provision) of
// the same environment is refused while one runs.
func TestADeployHoldsTheEnvironmentLock(t *testing.T) {
	t.Parallel()
	client := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, client)
	gate := filepath.Join(t.TempDir(), "go-on")
	env := deploy.Environment{Servers: []string{"web"}, Targets: map[string][]deploy.Step{"default": {
		step(t, "all", "echo started; while [ ! -e "+gate+" ]; do sleep 0.05; done"),
	}}}
	s := newStory(t, env, func(*actions.Handle, string) deploy.Remote {
		return sshdRemote(t, "test", client, "", srv.HostKey().KnownHostsLine(srv.Addr))
	})
	s.inv.set("staging", server("staging", "web-1", srv.Addr))
	s.Expect(s.As("bob", "deploy staging"), false, "run 1 started")
	actionstest.WaitFor(t, func() bool { return strings.Contains(s.message(1), "│ started") })
	s.Expect(s.As("alice", "deploy staging"), true, "run 1")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Engine.Wait()
	if r := s.Run(1); r.State != actions.Succeeded {
		t.Fatalf("run 1 %s: %s", r.State, r.Error)
	}
}

// TestDeployRefusesDuplicateServerNames: a deploy goes by server name
// (the plan binds each name to an id, each host's progress is kept by
// name), so two servers of one name are refused, saying which and how
// provision resolves them, before anything runs.
func TestDeployRefusesDuplicateServerNames(t *testing.T) {
	t.Parallel()
	client := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, client)
	env := deploy.Environment{Servers: []string{"web"}, Targets: map[string][]deploy.Step{"default": {step(t, "all", "echo deployed")}}}
	s := newStory(t, env, func(*actions.Handle, string) deploy.Remote {
		return sshdRemote(t, "test", client, "", srv.HostKey().KnownHostsLine(srv.Addr))
	})
	again := server("staging", "web-1", srv.Addr)
	again.ID = "id-staging-web-1-again"
	s.inv.set("staging", server("staging", "web-1", srv.Addr), again, server("staging", "web-2", srv.Addr))
	s.Expect(s.As("bob", "deploy staging"), true,
		"staging has more than one server named staging-web-1 (id-staging-web-1, id-staging-web-1-again)",
		"`plan staging` shows which of them `provision staging` deletes")
	if runs, _ := s.DB.Runs(context.Background(), actions.RunFilter{}); len(runs) != 0 {
		t.Errorf("duplicate names made %d runs", len(runs))
	}
	if n := len(srv.Execs()); n != 0 {
		t.Errorf("%d commands ran on the hosts", n)
	}
	// Once provision has resolved them, the deploy goes ahead.
	s.inv.set("staging", server("staging", "web-1", srv.Addr), server("staging", "web-2", srv.Addr))
	s.Expect(s.As("bob", "deploy staging"), false, "run 1 started")
	s.Engine.Wait()
	if r := s.Run(1); r.State != actions.Succeeded || len(r.Plan.Items) != 2 {
		t.Errorf("run 1 %s: %s; plan %+v", r.State, r.Error, r.Plan.Items)
	}
}

// TestDeployApprovalVoidWhenAStepChanges: what a step runs with (its
// timeout, whether the other hosts keep going when one fails, the
// bastion it runs on) is part of the plan, so a change of it between the
// request and its approval (here a restart with another config) voids
// the approval, and nothing runs.
func TestDeployApprovalVoidWhenAStepChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(env *deploy.Environment)
	}{
		{"timeout", func(env *deploy.Environment) { env.Targets["default"][1].Timeout = time.Hour }},
		{"keep going", func(env *deploy.Environment) { env.Targets["default"][1].KeepGoing = true }},
		{"bastion", func(env *deploy.Environment) { env.Bastion = "127.0.0.1:2" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := sshtest.NewKey(t)
			srv := sshtest.NewServer(t, client)
			env := deploy.Environment{Name: "production", Servers: []string{"web"}, Bastion: "127.0.0.1:1",
				Targets: map[string][]deploy.Step{"default": {step(t, "bastion", "echo on the bastion"), step(t, "all", "echo deployed")}}}
			inv := &inventory{}
			inv.set("production", server("production", "web-1", srv.Addr))
			w := actionstest.New(t, actionstest.Options{Setup: func(w *actionstest.World) {
				h, err := w.Engine.Module(deploy.Name)
				if err != nil {
					t.Fatal(err)
				}
				remote := sshdRemote(t, "test", client, "", srv.HostKey().KnownHostsLine(srv.Addr))
				deploy.New(h, []deploy.Environment{env}, deploy.Options{Remotes: map[string]deploy.Remote{"production": remote}, Inventory: inv.list})
			}})
			w.Expect(w.As("alice", "deploy production"), false, "request 1 awaits approval")
			tc.change(&env)
			w.Restart()
			w.Expect(w.As("dave", "approve 1"), true, "plan for request 1 changed", "ask again with `deploy production`")
			w.Engine.Wait()
			if r := w.Run(1); r.State != actions.Expired || r.Approval.State != actions.ApprovalVoid {
				t.Errorf("run 1 = %s / %s, want expired / void", r.State, r.Approval.State)
			}
			if n := len(srv.Execs()); n != 0 {
				t.Errorf("%d commands ran although the approval was void", n)
			}
		})
	}
}
