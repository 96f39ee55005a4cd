package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/ssh"
	"github.com/infrabot/infrabot/actions/ssh/sshtest"
)

// These tests talk to sshtest.Server, an in-process server speaking the
// SSH protocol through x/crypto/ssh and running commands with /bin/sh.

func TestRunHandsOverLines(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	r := remoteFor(t, srv, key)
	var out lines
	err := r.Run(testContext(t), srv.Addr, `printf 'one\ntwo\r\n'; echo 'to stderr' >&2; printf 'no newline at the end'`, out.add)
	if err != nil {
		t.Fatal(err)
	}
	got := out.all()
	// stdout and stderr are two streams: their relative order is not
	// kept, each stream's own order is.
	want := []string{"one", "two", "to stderr", "no newline at the end"}
	if !sameSet(got, want) {
		t.Errorf("lines = %q, want %q in any order between streams", got, want)
	}
	if i, j := slices.Index(got, "one"), slices.Index(got, "no newline at the end"); i > j {
		t.Errorf("stdout out of order: %q", got)
	}
}

func TestRunReportsExitStatusAndOutput(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	r := remoteFor(t, srv, key)
	var out lines
	err := r.Run(testContext(t), srv.Addr, "echo 'configuring httpd'; echo 'httpd: syntax error' >&2; exit 3", out.add)
	if err == nil {
		t.Fatal("a command exiting 3 succeeded")
	}
	if got := exitStatus(t, err); got != 3 {
		t.Errorf("exit status = %d, want 3", got)
	}
	if msg := chatMessage(err); msg != "exited with status 3" {
		t.Errorf("message = %q", msg)
	}
	if !sameSet(out.all(), []string{"configuring httpd", "httpd: syntax error"}) {
		t.Errorf("output = %q", out.all())
	}
}

func TestLongLinesAreCutToMaxLine(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	r := newRemote(t, ssh.Config{
		User: "test", PrivateKey: key.PEM, MaxLine: 100,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, srv.HostKey().KnownHostsLine(srv.Addr))},
	})
	var out lines
	// 250 "é" (2 bytes each) and a newline, then a short line.
	cmd := `i=0; while [ $i -lt 250 ]; do printf 'é'; i=$((i+1)); done; echo; echo short`
	if err := r.Run(testContext(t), srv.Addr, cmd, out.add); err != nil {
		t.Fatal(err)
	}
	got := out.all()
	total := 0
	for _, l := range got[:len(got)-1] {
		if len(l) > 100 {
			t.Errorf("a piece of %d bytes, want at most 100", len(l))
		}
		if strings.ContainsRune(l, '\uFFFD') {
			t.Errorf("a character was cut in two: %q", l)
		}
		total += len(l)
	}
	if total != 500 || got[len(got)-1] != "short" {
		t.Errorf("pieces %q", got)
	}
}

func TestHostKeys(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	hostKey := srv.HostKey()
	other := sshtest.NewKey(t)
	tests := []struct {
		name    string
		cfg     func(t *testing.T) ssh.Config
		wantErr []string // parts of the chat message; none means success
	}{
		{"known_hosts has the key", func(t *testing.T) ssh.Config {
			return ssh.Config{KnownHosts: []string{sshtest.WriteKnownHosts(t, hostKey.KnownHostsLine(srv.Addr))}}
		}, nil},
		{"unknown host refused with its fingerprint", func(t *testing.T) ssh.Config {
			return ssh.Config{KnownHosts: []string{sshtest.WriteKnownHosts(t, other.KnownHostsLine("10.9.9.9:22"))}}
		}, []string{"is not known", hostKey.Fingerprint()}},
		{"changed key refused with both fingerprints", func(t *testing.T) ssh.Config {
			return ssh.Config{KnownHosts: []string{sshtest.WriteKnownHosts(t, other.KnownHostsLine(srv.Addr))}}
		}, []string{"has changed", hostKey.Fingerprint(), other.Fingerprint(), "known_hosts:1"}},
		{"revoked key refused", func(t *testing.T) ssh.Config {
			return ssh.Config{KnownHosts: []string{sshtest.WriteKnownHosts(t, "@revoked "+hostKey.KnownHostsLine(srv.Addr))}}
		}, []string{"is revoked", hostKey.Fingerprint()}},
		{"pinned key", func(t *testing.T) ssh.Config {
			return ssh.Config{HostKeys: []string{hostKey.KnownHostsLine(srv.Addr)}}
		}, nil},
		{"pinned key wins over known_hosts", func(t *testing.T) ssh.Config {
			return ssh.Config{
				HostKeys:   []string{other.KnownHostsLine(srv.Addr)},
				KnownHosts: []string{sshtest.WriteKnownHosts(t, hostKey.KnownHostsLine(srv.Addr))},
			}
		}, []string{"has changed", "pinned in config", other.Fingerprint()}},
		{"trust on first use off by default", func(t *testing.T) ssh.Config {
			return ssh.Config{KnownHosts: []string{sshtest.WriteKnownHosts(t)}}
		}, []string{"is not known"}},
	}
	t.Cleanup(func() {
		// After the parallel cases: only the accepted ones ran anything.
		if got := srv.Execs(); len(got) != 2 {
			t.Errorf("the server ran %d commands, want 2", len(got))
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg(t)
			cfg.User, cfg.PrivateKey = "test", key.PEM
			r := newRemote(t, cfg)
			err := r.Run(testContext(t), srv.Addr, "echo hello", func(string) {})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("connected to a host it could not verify")
			}
			var hk *ssh.HostKeyError
			if !errors.As(err, &hk) {
				t.Fatalf("error %v is not a host key error", err)
			}
			msg := chatMessage(err)
			for _, w := range tc.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestTrustOnFirstUseRecordsAndReportsTheKey(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	file := filepath.Join(t.TempDir(), "known_hosts") // does not exist yet
	var mu sync.Mutex
	var trusted []ssh.TrustedKey
	cfg := ssh.Config{
		User: "test", PrivateKey: key.PEM, KnownHosts: []string{file}, TrustOnFirstUse: true,
		OnTrust: func(k ssh.TrustedKey) { mu.Lock(); trusted = append(trusted, k); mu.Unlock() },
	}
	r := newRemote(t, cfg)
	ctx := testContext(t)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx, srv.Addr, "true", func(string) {}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	if len(trusted) != 1 || trusted[0].Fingerprint != srv.HostKey().Fingerprint() || trusted[0].File != file {
		t.Errorf("trusted = %+v, want the server's key reported once", trusted)
	}
	mu.Unlock()
	data, err := os.ReadFile(file)
	if err != nil || strings.TrimSpace(string(data)) != srv.HostKey().KnownHostsLine(srv.Addr) {
		t.Errorf("known_hosts = %q, %v", data, err)
	}

	// A new Remote reads the key back from the file: a changed key is
	// refused even though trust on first use is on.
	srv.SetHostKey(sshtest.NewKey(t))
	cfg.OnTrust = func(k ssh.TrustedKey) { t.Errorf("trusted %+v on a host already known", k) }
	err = newRemote(t, cfg).Run(ctx, srv.Addr, "true", func(string) {})
	if err == nil || !strings.Contains(chatMessage(err), "has changed") {
		t.Errorf("changed key after first use: %v", err)
	}
}

func TestRefusedClientKey(t *testing.T) {
	t.Parallel()
	srv := sshtest.NewServer(t, sshtest.NewKey(t))
	r := remoteFor(t, srv, sshtest.NewKey(t))
	err := r.Run(testContext(t), srv.Addr, "true", func(string) {})
	if actions.ErrorKind(err) != actions.Permission || !strings.Contains(chatMessage(err), "refused the key for test") {
		t.Errorf("error = %v (%s)", err, actions.ErrorKind(err))
	}
}

func TestCancelStopsTheRemoteProcessGroup(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	r := remoteFor(t, srv, key)
	ctx, cancel := context.WithCancel(testContext(t))
	out := lines{ch: make(chan string, 16)}
	done := make(chan error, 1)
	go func() {
		// "sleep" in the background of a shell that then waits: signalling
		// only the shell would leave sleep running.
		done <- r.Run(ctx, srv.Addr, "sleep 300 & echo pid $!; wait", out.add)
	}()
	pid := startedPID(t, out.ch, done)
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !strings.Contains(chatMessage(err), "cancelled") {
		t.Errorf("error = %v", err)
	}
	waitGone(t, pid)
}

func TestCancelWorksWithoutSignals(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	srv.RefuseSignals()
	r := newRemote(t, ssh.Config{
		User: "test", PrivateKey: key.PEM, CancelGrace: 10 * time.Second,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, srv.HostKey().KnownHostsLine(srv.Addr))},
	})
	ctx, cancel := context.WithCancel(testContext(t))
	out := lines{ch: make(chan string, 16)}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, srv.Addr, "sleep 300 & echo pid $!; wait", out.add) }()
	pid := startedPID(t, out.ch, done)
	cancel()
	// Closing stdin alone stops it, well before the grace period ends and
	// the session is closed.
	waitGone(t, pid)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v", err)
	}
}

func TestStepTimeoutStopsTheCommand(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	r := remoteFor(t, srv, key)
	connect(t, r, srv.Addr)
	ctx, cancel := context.WithTimeout(testContext(t), stepTimeout)
	defer cancel()
	out := lines{ch: make(chan string, 16)}
	var pid int
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, srv.Addr, "sleep 300 & echo pid $!; wait", out.add) }()
	pid = startedPID(t, out.ch, done)
	err := <-done
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(chatMessage(err), "timed out") {
		t.Errorf("error = %v", err)
	}
	waitGone(t, pid)
}

func TestConnectionIsKeptAndShared(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	r := remoteFor(t, srv, key)
	ctx := testContext(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out lines
			if err := r.Run(ctx, srv.Addr, fmt.Sprintf("echo %d", i), out.add); err != nil {
				t.Error(err)
			}
			if got := out.all(); len(got) != 1 || got[0] != fmt.Sprint(i) {
				t.Errorf("run %d got %q", i, got)
			}
		}()
	}
	wg.Wait()
	if n := srv.Accepted(); n != 1 {
		t.Errorf("%d connections for 8 commands, want 1", n)
	}
}

func TestJumpHost(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	bastion := sshtest.NewServer(t, key)
	targets := []*sshtest.Server{sshtest.NewServer(t, key), sshtest.NewServer(t, key)}
	known := []string{bastion.HostKey().KnownHostsLine(bastion.Addr)}
	for _, s := range targets {
		known = append(known, s.HostKey().KnownHostsLine(s.Addr))
	}
	r := newRemote(t, ssh.Config{
		User: "test", PrivateKey: key.PEM,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, known...)},
		Bastion:    &ssh.Hop{Addr: bastion.Addr, User: "infra"},
	})
	ctx := testContext(t)
	for _, s := range targets {
		var out lines
		if err := r.Run(ctx, s.Addr, "echo through", out.add); err != nil {
			t.Fatal(err)
		}
		if got := out.all(); len(got) != 1 || got[0] != "through" {
			t.Errorf("output %q", got)
		}
	}
	if n := bastion.Accepted(); n != 1 {
		t.Errorf("bastion accepted %d connections, want 1 carrying both", n)
	}
	if len(bastion.Execs()) != 0 {
		t.Errorf("the bastion ran %q; it should only forward", bastion.Execs())
	}

	// The target's key is checked too, under the target's address.
	targets[1].SetHostKey(sshtest.NewKey(t))
	r2 := newRemote(t, ssh.Config{
		User: "test", PrivateKey: key.PEM,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, known...)},
		Bastion:    &ssh.Hop{Addr: bastion.Addr},
	})
	err := r2.Run(ctx, targets[1].Addr, "true", func(string) {})
	if err == nil || !strings.Contains(chatMessage(err), "has changed") {
		t.Errorf("changed key behind the bastion: %v", err)
	}
}

func TestUnreachableHost(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	r := remoteFor(t, srv, key)
	addr := srv.Addr
	srv.Close()
	err := r.Run(testContext(t), addr, "true", func(string) {})
	if actions.ErrorKind(err) != actions.Unavailable || !strings.Contains(chatMessage(err), "cannot reach "+addr) {
		t.Errorf("error = %v", err)
	}
}

func TestKeepAliveDropsAVanishedHost(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, key)
	r := newRemote(t, ssh.Config{
		User: "test", PrivateKey: key.PEM,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, srv.HostKey().KnownHostsLine(srv.Addr))},
		KeepAlive:  20 * time.Millisecond, KeepAliveMax: 2,
	})
	ctx := testContext(t)
	out := lines{ch: make(chan string, 4)}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, srv.Addr, "echo started; sleep 60", out.add) }()
	<-out.ch
	srv.Stall()
	err := <-done
	if err == nil || ctx.Err() != nil {
		t.Fatalf("error = %v, ctx = %v: the stalled connection was not dropped", err, ctx.Err())
	}
	if !strings.Contains(chatMessage(err), "connection to "+srv.Addr) {
		t.Errorf("message = %q", chatMessage(err))
	}
}

func TestNewRefusesConfigWithoutVerification(t *testing.T) {
	t.Parallel()
	key := sshtest.NewKey(t)
	tests := []struct {
		name string
		cfg  ssh.Config
		want string
	}{
		{"no way to verify hosts", ssh.Config{User: "u", PrivateKey: key.PEM}, "no way to verify host keys"},
		{"missing known_hosts", ssh.Config{User: "u", PrivateKey: key.PEM, KnownHosts: []string{"/nonexistent/known_hosts"}}, "no such file"},
		{"bad pinned line", ssh.Config{User: "u", PrivateKey: key.PEM, HostKeys: []string{"web ssh-ed25519 notbase64!"}}, "pinned host key 1"},
		{"pinned pattern", ssh.Config{User: "u", PrivateKey: key.PEM, HostKeys: []string{"*.example.org " + strings.TrimSpace(key.AuthorizedKey())}}, "names its host plainly"},
		{"no key", ssh.Config{User: "u", KnownHosts: []string{sshtest.WriteKnownHosts(t)}}, "nothing to authenticate with"},
		{"not a key", ssh.Config{User: "u", PrivateKey: []byte("hello"), KnownHosts: []string{sshtest.WriteKnownHosts(t)}}, "reading the private key"},
		{"no user", ssh.Config{PrivateKey: key.PEM}, "no user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ssh.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
