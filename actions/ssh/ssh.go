// Package ssh runs commands on remote hosts over SSH, with
// golang.org/x/crypto/ssh; it is the only package that imports it.
//
// A Remote is built from the SSH settings of one environment: public-key
// authentication (a key from a secret reference, and optionally the keys
// of an ssh-agent), host keys verified against known_hosts files or keys
// pinned in config, an optional jump host. Host keys are never taken on
// trust unless the environment turns trust on first use on, and every key
// so accepted is reported. A command runs with a deadline and stops when
// its context ends: the remote process group is sent SIGTERM, then
// SIGKILL. Its output is handed over line by line.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/infrabot/infrabot/actions"
)

// Defaults for the Config fields left zero.
const (
	DefaultPort           = 22
	DefaultConnectTimeout = 15 * time.Second
	DefaultKeepAlive      = 15 * time.Second
	DefaultKeepAliveMax   = 3
	DefaultCancelGrace    = 5 * time.Second
)

// Config is how infrabot reaches the hosts of one environment.
type Config struct {
	// User is the login name on the hosts.
	User string
	// Port is used for hosts given without one. Default 22.
	Port int
	// PrivateKey is the private key (PEM or OpenSSH format), resolved from
	// a secret reference; Passphrase decrypts it when it is encrypted.
	PrivateKey []byte
	Passphrase []byte
	// Agent also offers the keys of the ssh-agent at AgentSocket (default
	// $SSH_AUTH_SOCK).
	Agent       bool
	AgentSocket string

	// KnownHosts are known_hosts files, in OpenSSH's format (hashed names,
	// patterns, [host]:port and @revoked are understood).
	KnownHosts []string
	// HostKeys are keys pinned in config, each written as a known_hosts
	// line naming its hosts plainly: "10.0.0.5 ssh-ed25519 AAAA…". A host
	// with pinned keys is checked against those only.
	HostKeys []string
	// TrustOnFirstUse accepts the key of a host with nothing on record,
	// appends it to the first KnownHosts file (when there is one) and
	// reports it to OnTrust. Off unless an environment turns it on.
	TrustOnFirstUse bool
	OnTrust         func(TrustedKey)

	// Bastion, when set, is the jump host every connection goes through:
	// infrabot connects to it, and to each host through its connection.
	Bastion *Hop

	// ConnectTimeout bounds the TCP connection and the SSH handshake.
	ConnectTimeout time.Duration
	// KeepAlive is how often an idle connection is probed; after
	// KeepAliveMax probes without an answer the connection is closed and
	// the commands on it fail.
	KeepAlive    time.Duration
	KeepAliveMax int
	// CancelGrace is how long a cancelled command is given to end after
	// its process group is sent SIGTERM, before it is sent SIGKILL; and
	// how long after that its session may take to end before infrabot
	// closes it.
	CancelGrace time.Duration
	// MaxLine bounds the length of one line of output (DefaultMaxLine).
	MaxLine int

	// Log receives connection events (never output or secrets).
	Log *slog.Logger
}

// Hop is a jump host.
type Hop struct {
	Addr string // host or host:port
	User string // default: Config.User; also the login of a command run on the jump host itself
}

// Remote runs commands on the hosts of one environment. Connections are
// kept and shared between commands (one to the bastion carries every
// tunnelled connection) until Close. It is safe for concurrent use.
type Remote struct {
	cfg   Config
	keys  *hostKeys
	key   ssh.Signer
	log   *slog.Logger
	conns pool
}

// New checks cfg and returns a Remote. It connects to nothing yet.
func New(cfg Config) (*Remote, error) {
	if cfg.User == "" {
		return nil, errors.New("ssh: no user given")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.KeepAliveMax <= 0 {
		cfg.KeepAliveMax = DefaultKeepAliveMax
	}
	if cfg.CancelGrace <= 0 {
		cfg.CancelGrace = DefaultCancelGrace
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	r := &Remote{cfg: cfg, log: cfg.Log}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.PrivateKey) > 0 {
		var err error
		if len(cfg.Passphrase) > 0 {
			r.key, err = ssh.ParsePrivateKeyWithPassphrase(cfg.PrivateKey, cfg.Passphrase)
		} else {
			r.key, err = ssh.ParsePrivateKey(cfg.PrivateKey)
		}
		if err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return nil, errors.New("ssh: the private key is encrypted and no passphrase is given")
			}
			// The parser's message never holds key material.
			return nil, fmt.Errorf("ssh: reading the private key: %v", err)
		}
	}
	if r.key == nil && !cfg.Agent {
		return nil, errors.New("ssh: no private key and no agent: nothing to authenticate with")
	}
	keys, err := newHostKeys(&r.cfg)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	r.keys = keys
	r.conns.m = map[string]*conn{}
	return r, nil
}

// Close closes every connection. Commands still running fail.
func (r *Remote) Close() error {
	r.conns.closeAll()
	return nil
}

// ExitError is a remote command that ended unsuccessfully.
type ExitError struct {
	Status int    // the exit status; -1 when the command was killed by a signal
	Signal string // the signal that killed it, without "SIG", when one did
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return "killed by signal " + e.Signal
	}
	return "exited with status " + strconv.Itoa(e.Status)
}

// ExitStatus returns the command's exit status.
func (e *ExitError) ExitStatus() int { return e.Status }

// Run runs cmd on host (host or host:port) with the login shell of the
// user and hands every line it prints, stdout and stderr, to out: one
// call per line, without its line ending, never two calls at once. It
// returns when the command ends: nil when it exited with status 0, an
// error wrapping *ExitError when it did not. When ctx ends first every
// process the command started is sent SIGTERM, then SIGKILL after
// CancelGrace (see wrapCommand and stop); the error then wraps ctx.Err(),
// and its message says the command was stopped only when its session
// ended, and that whether it ended is unknown when infrabot had to close
// the session.
// The command runs with stdin from /dev/null.
//
// Errors are *actions.Error values whose message is fit for chat.
func (r *Remote) Run(ctx context.Context, host, cmd string, out func(line string)) error {
	return r.RunRedacted(ctx, host, cmd, nil, out)
}

// RunRedacted is Run with every line, stdout and stderr, passed through
// redact (when not nil) whole, before a line longer than MaxLine is cut
// into pieces: a secret the cut would split in two is redacted all the
// same, if it is at most MaxLine bytes long. It implements
// deploy.RedactingRemote.
func (r *Remote) RunRedacted(ctx context.Context, host, cmd string, redact func(string) string, out func(line string)) error {
	addr := r.addr(host)
	sess, err := r.session(ctx, addr)
	if err != nil {
		return err
	}
	defer sess.Close()
	sink := &lineSink{out: out}
	stdout, stderr := newLineWriter(sink, r.cfg.MaxLine, redact), newLineWriter(sink, r.cfg.MaxLine, redact)
	sess.Stdout, sess.Stderr = stdout, stderr
	// Held open while the command runs: closing it is how it is stopped.
	stdin, err := sess.StdinPipe()
	if err != nil {
		return &actions.Error{Kind: actions.Unavailable, Message: fmt.Sprintf("cannot start the command on %s", addr), Err: err}
	}
	defer stdin.Close()
	if err := sess.Start(wrapCommand(cmd, r.cfg.CancelGrace)); err != nil {
		return &actions.Error{Kind: actions.Unavailable, Message: fmt.Sprintf("cannot start the command on %s", addr), Err: err}
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = r.stop(sess, stdin, addr, done)
		if err == errAbandoned {
			// Wait never returned, so its copy goroutines may still write
			// to stdout and stderr: they are not flushed.
			return stopped(ctx, addr, false)
		}
		stdout.Close()
		stderr.Close()
		if err != nil {
			return stopped(ctx, addr, err == errStopped)
		}
		return nil // it ended well on its own in the meantime
	}
	stdout.Close()
	stderr.Close()
	return r.outcome(addr, err)
}

// How a stopped command ended (see stop).
var (
	errStopped   = errors.New("stopped")
	errUnknown   = errors.New("whether it ended is unknown")
	errAbandoned = errors.New("session abandoned")
)

// stop makes the command's process group end (see wrapCommand): it sends
// SIGTERM and closes the command's stdin, on which the guard sends the
// group SIGTERM, then SIGKILL once the command's shell ended or after
// CancelGrace. sshd ends the session only when the wrapper has ended and
// no process holds the command's output any more: when it does so within
// CancelGrace after the SIGKILL, the command ended (errStopped). Otherwise
// stop closes the session, then drops the connection, so as not to wait
// forever; whether the command ended is then unknown (errUnknown, or
// errAbandoned when even that did not end the session). The SIGKILL ends
// the wrapper too, so a command that exits 0 on SIGTERM is reported
// stopped all the same: stop returns nil only when the command had ended
// well on its own and the wrapper exited 0 before the stop reached it.
func (r *Remote) stop(sess *ssh.Session, stdin io.Closer, addr string, done <-chan error) error {
	if err := sess.Signal(ssh.SIGTERM); err != nil {
		r.log.Debug("ssh: signal not sent", "host", addr, "err", err)
	}
	stdin.Close()
	t := time.NewTimer(time.Duration(graceSeconds(r.cfg.CancelGrace))*time.Second + r.cfg.CancelGrace)
	defer t.Stop()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		return errStopped
	case <-t.C:
	}
	r.log.Warn("ssh: a stopped command's session did not end; closing it", "host", addr)
	sess.Close()
	t.Reset(r.cfg.CancelGrace)
	select {
	case err := <-done:
		return unknownUnlessOK(err)
	case <-t.C:
		// The host does not answer: drop the connection, which ends
		// every session on it.
		r.log.Warn("ssh: host does not close a cancelled session; dropping the connection", "host", addr)
		r.conns.drop(r.login(addr) + "@" + addr)
		select {
		case err := <-done:
			return unknownUnlessOK(err)
		case <-time.After(r.cfg.CancelGrace):
			return errAbandoned
		}
	}
}

// unknownUnlessOK keeps the success of a command that ended well before
// its session was closed; any other ending after infrabot closed the
// session tells nothing of the command.
func unknownUnlessOK(err error) error {
	if err == nil {
		return nil
	}
	return errUnknown
}

// stopped is the error of a command stopped when ctx ended; ended says
// whether it is known to have ended.
func stopped(ctx context.Context, addr string, ended bool) error {
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
	var msg string
	switch {
	case timedOut && ended:
		msg = fmt.Sprintf("timed out on %s; the command was stopped", addr)
	case timedOut:
		msg = fmt.Sprintf("timed out on %s; SIGTERM and SIGKILL sent to the command, but whether it ended is unknown", addr)
	case ended:
		msg = fmt.Sprintf("cancelled; the command on %s was stopped", addr)
	default:
		msg = fmt.Sprintf("cancelled; SIGTERM and SIGKILL sent to the command on %s, but whether it ended is unknown", addr)
	}
	if timedOut {
		return &actions.Error{Kind: actions.Unavailable, Message: msg, Err: ctx.Err()}
	}
	return &actions.Error{Kind: actions.Conflict, Message: msg, Err: ctx.Err()}
}

func (r *Remote) outcome(addr string, err error) error {
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		x := &ExitError{Status: ee.ExitStatus(), Signal: ee.Signal()}
		if x.Signal != "" {
			x.Status = -1
		}
		return &actions.Error{Kind: actions.Unavailable, Message: x.Error(), Err: x}
	case errors.As(err, &missing):
		return &actions.Error{Kind: actions.Unavailable, Message: fmt.Sprintf("the connection to %s ended before the command reported its exit status", addr), Err: err}
	default:
		return &actions.Error{Kind: actions.Unavailable, Message: fmt.Sprintf("the connection to %s failed while the command ran", addr), Err: err}
	}
}

// session opens a session on a (possibly shared) connection to addr,
// connecting again once when a kept connection turns out to be dead.
func (r *Remote) session(ctx context.Context, addr string) (*ssh.Session, error) {
	user := r.login(addr)
	for attempt := 0; ; attempt++ {
		c, err := r.client(ctx, user, addr)
		if err != nil {
			return nil, err
		}
		s, err := c.NewSession()
		if err == nil {
			return s, nil
		}
		r.conns.dropClient(user+"@"+addr, c)
		if attempt > 0 || ctx.Err() != nil {
			return nil, &actions.Error{Kind: actions.Unavailable, Message: fmt.Sprintf("cannot open a session on %s", addr), Err: err}
		}
	}
}

// login is the user a command on addr runs as: the bastion's own user on
// the bastion (a step `on: bastion`), which also lets the command share
// the connection that carries the tunnels; User everywhere else.
func (r *Remote) login(addr string) string {
	if b := r.cfg.Bastion; b != nil && b.User != "" && r.addr(b.Addr) == addr {
		return b.User
	}
	return r.cfg.User
}

func (r *Remote) addr(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(r.cfg.Port))
}

// wrapCommand makes stopping reach every process the command started.
// sshd runs a command without a terminal as the leader of a new process
// group, but delivers a "signal" request to that one process only, and
// not at all when the login is root (OpenSSH needs privilege separation
// for it); closing the session does not end the command either. So the
// wrapper runs the command in a subshell in the background, with stdin
// from /dev/null (steps are not interactive), and a guard that reads the
// session's stdin: infrabot never writes to it, so end of file means
// infrabot closed it — to stop the command, or because the connection is
// gone. Then the guard sends the whole group SIGTERM (which it ignores
// from then on), and SIGKILL once the command's subshell has ended or
// after grace (whole seconds: POSIX sleep takes no fraction), whichever
// comes first: a process that ignores SIGTERM does not outlive the stop.
// The wrapper, once signalled (by the guard, or by sshd on infrabot's
// "signal" request), waits for the guard's SIGKILL after the command,
// so that the session ends only when every process of the group has.
// The wrapper is in the group: the SIGKILL ends it as well, so a session
// stopped this way ends by that signal, never with the command's status,
// even when the command exited 0 on SIGTERM.
// The guard reads a copy of stdin on fd 3: a background job's own stdin
// is /dev/null in a shell without job control.
func wrapCommand(cmd string, grace time.Duration) string {
	return `exec 3<&0 </dev/null
infrabot_stop=
trap 'infrabot_stop=1' HUP INT TERM
(
` + cmd + `
) 3<&- &
infrabot_cmd=$!
(
while read -r _ <&3; do :; done
exec 3<&-
trap '' HUP INT TERM
kill -TERM 0
i=0
while [ $i -lt ` + strconv.Itoa(graceSeconds(grace)) + ` ] && kill -0 $infrabot_cmd; do sleep 1; i=$((i+1)); done
kill -KILL 0
) >/dev/null 2>&1 &
infrabot_guard=$!
exec 3<&-
wait $infrabot_cmd
infrabot_status=$?
while kill -0 $infrabot_cmd 2>/dev/null; do wait $infrabot_cmd; infrabot_status=$?; done
if [ -n "$infrabot_stop" ]; then wait $infrabot_guard; fi
kill $infrabot_guard 2>/dev/null
exit $infrabot_status
`
}

// graceSeconds is grace in whole seconds, rounded up, at least 1.
func graceSeconds(grace time.Duration) int {
	return max(1, int((grace+time.Second-1)/time.Second))
}
