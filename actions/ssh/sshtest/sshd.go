package sshtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions/actionstest"
)

// SSHDPath is where Debian's openssh-server puts sshd.
const SSHDPath = "/usr/sbin/sshd"

// SSHD is a real OpenSSH sshd listening on 127.0.0.1, run by the test with
// its own configuration: only public-key logins, with the key in Client,
// as the user running the test.
type SSHD struct {
	Addr    string
	HostKey Key
	Client  Key
	User    string
	Dir     string // its configuration, keys and log

	cmd *exec.Cmd
	log *syncBuffer
}

// SSHDOptions adjust the sshd started.
type SSHDOptions struct {
	// Client is the key allowed to log in; a fresh one when zero.
	Client Key
	// Extra lines for sshd_config, taking precedence over the defaults.
	Extra []string
}

// StartSSHD starts sshd on a free port of 127.0.0.1 and stops it at the
// end of the test. When sshd is not installed the test is skipped with
// the command that installs it, except under CI=true, where it fails:
// `make test` installs openssh-server when it runs as root.
func StartSSHD(t testing.TB, opts SSHDOptions) *SSHD {
	t.Helper()
	RequireSSHD(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd running as root wants its privilege separation directory,
		// which the package's service unit creates at boot.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := &SSHD{HostKey: NewKey(t), Client: opts.Client, User: u.Username, Dir: t.TempDir()}
	if d.Client.Signer == nil {
		d.Client = NewKey(t)
	}
	hostKey := filepath.Join(d.Dir, "host_ed25519")
	writeFile(t, hostKey, d.HostKey.PEM)
	authorized := filepath.Join(d.Dir, "authorized_keys")
	writeFile(t, authorized, []byte(d.Client.AuthorizedKey()))
	defaults := []string{
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(d.Dir, "sshd.pid"),
		"AuthorizedKeysFile " + authorized,
		// t.TempDir() lives under the world-writable /tmp.
		"StrictModes no",
		"UsePAM no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowTcpForwarding yes",
		"PermitTTY no",
		"X11Forwarding no",
		"AllowAgentForwarding no",
		"LogLevel VERBOSE",
		// bash started by sshd reads ~/.bashrc unless it is a nested
		// shell: the tests' commands do not depend on the login files of
		// whoever runs them (a developer's pyenv init takes a second on
		// a loaded machine, and a step's timeout is not meant for it).
		"SetEnv SHLVL=1",
		"MaxStartups 50",
		"MaxSessions 50",
	}
	// The port is free when chosen but sshd binds it a moment later, and
	// meanwhile another process may take it (the tests of other packages
	// open listeners all the time): sshd then exits saying so, and it is
	// started again on another port.
	for attempt := 1; ; attempt++ {
		d.Addr = actionstest.FreeAddr(t)
		_, port, _ := net.SplitHostPort(d.Addr)
		// sshd takes the first value given for a keyword: the options'
		// lines come first, so that they can override the defaults.
		conf := append(append(append([]string(nil), opts.Extra...), "Port "+port), defaults...)
		inUse := d.start(t, conf)
		if !inUse {
			return d
		}
		if attempt == 5 {
			t.Fatalf("sshd found its port taken 5 times in a row:\n%s", d.log.String())
		}
		t.Logf("sshd: port %s was taken before sshd bound it; trying another", port)
	}
}

// start runs sshd with conf and waits until it listens; it reports
// whether sshd exited because its port was in use (and is then stopped).
func (d *SSHD) start(t testing.TB, conf []string) (portInUse bool) {
	t.Helper()
	cfgPath := filepath.Join(d.Dir, "sshd_config")
	var buf bytes.Buffer
	for _, l := range conf {
		buf.WriteString(l + "\n")
	}
	writeFile(t, cfgPath, buf.Bytes())
	d.log = &syncBuffer{}
	d.cmd = exec.Command(SSHDPath, "-D", "-e", "-f", cfgPath)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		d.cmd.Wait()
		close(exited)
	}()
	// sshd says it listens once it has bound the port: waiting for that,
	// rather than for a connection to succeed, never mistakes another
	// process's listener for it.
	listening := "Server listening on " + strings.Replace(d.Addr, ":", " port ", 1)
	deadline := time.After(10 * time.Second)
	for !strings.Contains(d.log.String(), listening) {
		select {
		case <-exited:
			if strings.Contains(d.log.String(), "Address already in use") {
				return true
			}
			t.Fatalf("sshd exited at start:\n%s", d.log.String())
		case <-deadline:
			d.cmd.Process.Kill()
			<-exited
			t.Fatalf("sshd did not listen on %s within 10s:\n%s", d.Addr, d.log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cmd, log := d.cmd, d.log
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("sshd on %s logged:\n%s", d.Addr, log.String())
		}
	})
	return false
}

// RequireSSHD skips the test when sshd is not installed, or fails it
// under CI=true.
func RequireSSHD(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not installed: run `make test` as root, or `apt-get install -y openssh-server`, to run the tests against a real sshd", SSHDPath)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// KnownHostsLine returns the known_hosts line for this sshd.
func (d *SSHD) KnownHostsLine() string { return d.HostKey.KnownHostsLine(d.Addr) }

// Log returns what sshd logged so far.
func (d *SSHD) Log() string { return d.log.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
