package sshtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
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
	d := &SSHD{HostKey: NewKey(t), Client: opts.Client, User: u.Username, Dir: t.TempDir(), log: &syncBuffer{}}
	if d.Client.Signer == nil {
		d.Client = NewKey(t)
	}
	hostKey := filepath.Join(d.Dir, "host_ed25519")
	writeFile(t, hostKey, d.HostKey.PEM)
	authorized := filepath.Join(d.Dir, "authorized_keys")
	writeFile(t, authorized, []byte(d.Client.AuthorizedKey()))
	port := freePort(t)
	d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// sshd takes the first value given for a keyword: the options'
	// lines come first, so that they can override the defaults below.
	conf := append([]string(nil), opts.Extra...)
	conf = append(conf,
		"Port "+strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey "+hostKey,
		"PidFile "+filepath.Join(d.Dir, "sshd.pid"),
		"AuthorizedKeysFile "+authorized,
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
		"MaxStartups 50",
		"MaxSessions 50",
	)
	cfgPath := filepath.Join(d.Dir, "sshd_config")
	var buf bytes.Buffer
	for _, l := range conf {
		buf.WriteString(l + "\n")
	}
	writeFile(t, cfgPath, buf.Bytes())
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
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			d.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("sshd on %s logged:\n%s", d.Addr, d.log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err == nil {
			c.Close()
			return d
		}
		select {
		case <-exited:
			t.Fatalf("sshd exited at start:\n%s", d.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s within 10s:\n%s", d.Addr, d.log.String())
		}
	}
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
