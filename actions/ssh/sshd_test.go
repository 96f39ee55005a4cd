package ssh_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/infrabot/infrabot/actions/ssh"
	"github.com/infrabot/infrabot/actions/ssh/sshtest"
)

// These tests run against a real OpenSSH sshd started on 127.0.0.1 with
// its own configuration (sshtest.StartSSHD). They are skipped when sshd is
// not installed, except under CI=true; `make test` installs it as root.

func sshdRemote(t *testing.T, d *sshtest.SSHD, known ...string) *ssh.Remote {
	t.Helper()
	if len(known) == 0 {
		known = []string{d.KnownHostsLine()}
	}
	return newRemote(t, ssh.Config{
		User:       d.User,
		PrivateKey: d.Client.PEM,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, known...)},
	})
}

// sshdRemoteWithGrace is sshdRemote with the given CancelGrace.
func sshdRemoteWithGrace(t *testing.T, d *sshtest.SSHD, grace time.Duration) *ssh.Remote {
	t.Helper()
	return newRemote(t, ssh.Config{
		User: d.User, PrivateKey: d.Client.PEM, CancelGrace: grace,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, d.KnownHostsLine())},
	})
}

// startInBackground runs cmd on addr through r in the background and
// waits for it to print its "pid N"; it returns N and the channel Run's
// error arrives on.
func startInBackground(t *testing.T, ctx context.Context, r *ssh.Remote, addr, cmd string) (int, <-chan error) {
	t.Helper()
	out := lines{ch: make(chan string, 8)}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, addr, cmd, out.add) }()
	return startedPID(t, out.ch, done), done
}

func TestSSHDStreamsOutput(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	r := sshdRemote(t, d)
	var out lines
	if err := r.Run(testContext(t), d.Addr, `echo "first"; for i in 2 3; do echo "line $i"; done`, out.add); err != nil {
		t.Fatal(err)
	}
	want := []string{"first", "line 2", "line 3"}
	if got := out.all(); !slicesEqual(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
}

func TestSSHDStreamsBeforeTheCommandEnds(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	r := sshdRemote(t, d)
	out := lines{ch: make(chan string, 8)}
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, d.Addr, `echo "step one done"; sleep 300`, out.add) }()
	// The line arrives while the command still runs: it is streamed, not
	// collected at the end.
	select {
	case l := <-out.ch:
		if l != "step one done" {
			t.Errorf("first line %q", l)
		}
	case err := <-done:
		t.Fatalf("the command ended (%v) before its first line was seen", err)
	}
	cancel()
	<-done
}

func TestSSHDFailingCommand(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	r := sshdRemote(t, d)
	var out lines
	err := r.Run(testContext(t), d.Addr, "echo 'restarting httpd'; echo 'Job for httpd.service failed' >&2; exit 42", out.add)
	if got := exitStatus(t, err); got != 42 {
		t.Errorf("exit status %d, want 42", got)
	}
	if !sameSet(out.all(), []string{"restarting httpd", "Job for httpd.service failed"}) {
		t.Errorf("output %q", out.all())
	}
}

func TestSSHDChangedHostKeyRefused(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	old := sshtest.NewKey(t)
	r := sshdRemote(t, d, old.KnownHostsLine(d.Addr))
	err := r.Run(testContext(t), d.Addr, "touch should-not-run", func(string) {})
	var hk *ssh.HostKeyError
	if !errors.As(err, &hk) || hk.Reason != "changed" {
		t.Fatalf("error = %v, want a changed host key", err)
	}
	msg := chatMessage(err)
	for _, w := range []string{d.HostKey.Fingerprint(), old.Fingerprint(), "has changed"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q: %s", w, msg)
		}
	}
	if strings.Contains(d.Log(), "Accepted publickey") {
		t.Error("sshd logged a login although the host key was refused")
	}
}

func TestSSHDStepTimeout(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	r := sshdRemote(t, d)
	connect(t, r, d.Addr)
	ctx, cancel := context.WithTimeout(testContext(t), stepTimeout)
	defer cancel()
	pid, done := startInBackground(t, ctx, r, d.Addr, "sleep 300 & echo pid $!; wait")
	err := <-done
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(chatMessage(err), "timed out") {
		t.Errorf("error = %v", err)
	}
	waitGone(t, pid)
}

func TestSSHDCancelStopsTheRemoteCommand(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	r := sshdRemote(t, d)
	ctx, cancel := context.WithCancel(testContext(t))
	// A pipeline and a background job: every process of the command must
	// go, not only the shell sshd started.
	pid, done := startInBackground(t, ctx, r, d.Addr, "sleep 300 & echo pid $!; sleep 301 | cat; wait")
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v", err)
	}
	waitGone(t, pid)
	// The connection is still good for the next command.
	var next lines
	if err := r.Run(testContext(t), d.Addr, "echo still here", next.add); err != nil || !slicesEqual(next.all(), []string{"still here"}) {
		t.Errorf("next command: %v %q", err, next.all())
	}
}

// A command that ignores SIGTERM is killed: the guard sends SIGKILL
// after the grace, and only then is the command said to be stopped.
func TestSSHDCancelKillsACommandThatIgnoresTERM(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	r := sshdRemoteWithGrace(t, d, time.Second)
	ctx, cancel := context.WithCancel(testContext(t))
	pid, done := startInBackground(t, ctx, r, d.Addr, "trap '' TERM HUP; sleep 300 & echo pid $!; wait")
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !strings.Contains(chatMessage(err), "was stopped") {
		t.Errorf("error = %v", err)
	}
	waitGone(t, pid)
}

// When the session does not end after SIGTERM and SIGKILL (here a
// process that left the command's process group still holds its output),
// Run does not claim the command was stopped.
func TestSSHDCancelSaysWhenItCannotTellTheCommandEnded(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	r := sshdRemoteWithGrace(t, d, time.Second)
	ctx, cancel := context.WithCancel(testContext(t))
	// The pid is printed once the process has left the group.
	pid, done := startInBackground(t, ctx, r, d.Addr, `setsid sh -c 'echo pid $$; exec sleep 300' & wait`)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	cancel()
	err := <-done
	msg := chatMessage(err)
	if !errors.Is(err, context.Canceled) || strings.Contains(msg, "was stopped") || !strings.Contains(msg, "whether it ended is unknown") {
		t.Errorf("error = %v", err)
	}
}

func TestSSHDLostConnectionStopsTheCommand(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	r := sshdRemote(t, d)
	pid, done := startInBackground(t, testContext(t), r, d.Addr, "sleep 300 & echo pid $!; wait")
	r.Close() // the connection goes away under the running command
	if err := <-done; err == nil {
		t.Error("the command succeeded although its connection was closed")
	}
	waitGone(t, pid)
}

func TestSSHDThroughBastion(t *testing.T) {
	t.Parallel()
	client := sshtest.NewKey(t)
	bastion := sshtest.StartSSHD(t, sshtest.SSHDOptions{Client: client, Extra: []string{"LogLevel DEBUG1"}})
	target := sshtest.StartSSHD(t, sshtest.SSHDOptions{Client: client})
	r := newRemote(t, ssh.Config{
		User:       target.User,
		PrivateKey: client.PEM,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, bastion.KnownHostsLine(), target.KnownHostsLine())},
		Bastion:    &ssh.Hop{Addr: bastion.Addr, User: bastion.User},
	})
	var out lines
	if err := r.Run(testContext(t), target.Addr, "echo deployed via the bastion", out.add); err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(out.all(), []string{"deployed via the bastion"}) {
		t.Errorf("output %q", out.all())
	}
	_, port, _ := strings.Cut(target.Addr, ":")
	if log := bastion.Log(); !strings.Contains(log, "direct-tcpip") || !strings.Contains(log, "port "+port) {
		t.Errorf("the bastion did not forward to %s:\n%s", target.Addr, log)
	}
}

// A step `on: bastion` runs on the jump host as the bastion's user, as
// the tunnels through it do, not as the hosts' user: here the hosts'
// user does not exist on the bastion.
func TestSSHDStepOnTheBastionLogsInAsTheBastionUser(t *testing.T) {
	t.Parallel()
	client := sshtest.NewKey(t)
	bastion := sshtest.StartSSHD(t, sshtest.SSHDOptions{Client: client})
	r := newRemote(t, ssh.Config{
		User:       "centos-not-on-the-bastion",
		PrivateKey: client.PEM,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, bastion.KnownHostsLine())},
		Bastion:    &ssh.Hop{Addr: bastion.Addr, User: bastion.User},
	})
	var out lines
	if err := r.Run(testContext(t), bastion.Addr, "echo on the bastion", out.add); err != nil {
		t.Fatalf("a step on the bastion: %s", chatMessage(err))
	}
	if !slicesEqual(out.all(), []string{"on the bastion"}) {
		t.Errorf("output %q", out.all())
	}
	if log := bastion.Log(); !strings.Contains(log, "Accepted publickey for "+bastion.User) {
		t.Errorf("sshd logged no login as %s:\n%s", bastion.User, log)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An ssh-agent holding the key: infrabot has no private key of its own
// and signs through the agent, against the real sshd; an agent holding
// another key is refused.
func TestSSHDAuthenticatesThroughAnAgent(t *testing.T) {
	t.Parallel()
	d := sshtest.StartSSHD(t, sshtest.SSHDOptions{})
	for _, tc := range []struct {
		name string
		key  sshtest.Key
		ok   bool
	}{
		{"the authorised key", d.Client, true},
		{"another key", sshtest.NewKey(t), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := xssh.ParseRawPrivateKey(tc.key.PEM)
			if err != nil {
				t.Fatal(err)
			}
			keyring := agent.NewKeyring()
			if err := keyring.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
				t.Fatal(err)
			}
			sock := filepath.Join(t.TempDir(), "agent.sock")
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						agent.ServeAgent(keyring, c)
					}()
				}
			}()
			r := newRemote(t, ssh.Config{
				User:        d.User,
				Agent:       true,
				AgentSocket: sock,
				KnownHosts:  []string{sshtest.WriteKnownHosts(t, d.KnownHostsLine())},
			})
			var out lines
			err = r.Run(testContext(t), d.Addr, "echo signed by the agent", out.add)
			switch {
			case tc.ok && (err != nil || !slicesEqual(out.all(), []string{"signed by the agent"})):
				t.Errorf("through the agent: %v, output %q", err, out.all())
			case !tc.ok && err == nil:
				t.Error("an agent holding a key sshd does not know was let in")
			}
		})
	}
}
