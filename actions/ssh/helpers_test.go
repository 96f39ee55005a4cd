package ssh_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/ssh"
	"github.com/infrabot/infrabot/actions/ssh/sshtest"
)

// lines collects a command's output as Run hands it over.
type lines struct {
	mu sync.Mutex
	l  []string
	ch chan string // each line, when not nil
}

func (l *lines) add(s string) {
	l.mu.Lock()
	l.l = append(l.l, s)
	l.mu.Unlock()
	if l.ch != nil {
		l.ch <- s
	}
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func newRemote(t *testing.T, cfg ssh.Config) *ssh.Remote {
	t.Helper()
	r, err := ssh.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// remoteFor returns a Remote that logs in to srv with key and knows its
// host key from a known_hosts file.
func remoteFor(t *testing.T, srv *sshtest.Server, key sshtest.Key) *ssh.Remote {
	t.Helper()
	return newRemote(t, ssh.Config{
		User:       "test",
		PrivateKey: key.PEM,
		KnownHosts: []string{sshtest.WriteKnownHosts(t, srv.HostKey().KnownHostsLine(srv.Addr))},
	})
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startedPID waits for the command to print its background process's PID
// on a line "pid N" and returns it. done is where the command's Run
// reports: a command that ends before saying it started fails the test at
// once, with how it ended.
func startedPID(t *testing.T, ch <-chan string, done <-chan error) int {
	t.Helper()
	limit := time.After(20 * time.Second)
	for {
		select {
		case l := <-ch:
			if rest, ok := strings.CutPrefix(l, "pid "); ok {
				pid, err := strconv.Atoi(rest)
				if err != nil {
					t.Fatalf("bad pid line %q", l)
				}
				return pid
			}
		case err := <-done:
			t.Fatalf("the command ended before it said it started: %v", err)
		case <-limit:
			t.Fatal("the command never said it started")
		}
	}
}

// stepTimeout is the deadline of the timeout tests: far shorter than
// their commands (sleep 300), yet long enough for a command to start on
// a connection already made, however loaded the machine (the race
// detector on 2 shared cores).
const stepTimeout = 3 * time.Second

// connect makes r's connection to addr, so that a deadline set next is
// spent on the command, not on the SSH handshake.
func connect(t *testing.T, r *ssh.Remote, addr string) {
	t.Helper()
	if err := r.Run(testContext(t), addr, "true", func(string) {}); err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
}

// waitGone waits until process pid no longer runs (a zombie waiting for
// its parent to reap it counts as gone: it runs nothing).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !running(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d still runs after the command was stopped", pid)
}

func running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func exitStatus(t *testing.T, err error) int {
	t.Helper()
	var ee *ssh.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v is not an exit status", err)
	}
	return ee.Status
}

func chatMessage(err error) string { return actions.ErrorMessage(err) }
