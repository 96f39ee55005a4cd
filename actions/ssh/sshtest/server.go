package sshtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Server is an in-process SSH server on 127.0.0.1 that behaves as sshd
// does for what infrabot uses: public-key authentication against a list
// of authorized keys; "exec" requests run with /bin/sh -c as the leader of
// a new session, without a terminal, stdin fed from the channel; "signal"
// requests delivered to that one process; exit-status or exit-signal
// reported; "direct-tcpip" channels (a jump host); keepalive requests
// answered "unsupported", as sshd answers unknown global requests.
type Server struct {
	// Addr is host:port of the listener.
	Addr string

	t        testing.TB
	l        net.Listener
	mu       sync.Mutex
	hostKey  Key
	allowed  map[string]bool
	stalled  bool
	noSignal bool
	conns    []net.Conn
	accepted int
	procs    map[int]bool
	execs    []string
	wg       sync.WaitGroup
}

// NewServer starts a server with a fresh host key that accepts the
// client keys given. It stops at the end of the test.
func NewServer(t testing.TB, clients ...Key) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: l.Addr().String(), t: t, l: l, hostKey: NewKey(t), allowed: map[string]bool{}, procs: map[int]bool{}}
	for _, k := range clients {
		s.allowed[string(k.Public().Marshal())] = true
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// HostKey returns the key the server proves itself with.
func (s *Server) HostKey() Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostKey
}

// SetHostKey makes later connections see a different host key, as after a
// rebuild or a man in the middle.
func (s *Server) SetHostKey(k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hostKey = k
}

// Stall makes the server stop answering global requests (keepalives) and
// stop sending on open sessions' request replies, as a host that vanished
// from the network without closing its connections.
func (s *Server) Stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalled = true
}

// RefuseSignals makes the server ignore "signal" requests, as OpenSSH
// does for root logins (it needs privilege separation to deliver them).
func (s *Server) RefuseSignals() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noSignal = true
}

// Accepted returns how many connections the server accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Execs returns the commands the server was asked to run, in order.
func (s *Server) Execs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.execs...)
}

// Close stops the listener, drops every connection and kills the process
// groups of commands still running.
func (s *Server) Close() {
	s.l.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	for pid := range s.procs {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.accepted++
		s.conns = append(s.conns, nc)
		cfg := &ssh.ServerConfig{
			PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
				s.mu.Lock()
				defer s.mu.Unlock()
				if s.allowed[string(key.Marshal())] {
					return nil, nil
				}
				return nil, errors.New("key not authorized")
			},
		}
		cfg.AddHostKey(s.hostKey.Signer)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(nc, cfg)
		}()
	}
}

func (s *Server) handle(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	sc, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for r := range reqs {
			s.mu.Lock()
			stalled := s.stalled
			s.mu.Unlock()
			if !stalled && r.WantReply {
				r.Reply(false, nil)
			}
		}
	}()
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			ch, creqs, err := nch.Accept()
			if err != nil {
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.session(ch, creqs)
			}()
		case "direct-tcpip":
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.forward(nch)
			}()
		default:
			nch.Reject(ssh.UnknownChannelType, "unknown channel type")
		}
	}
}

// session serves one session channel: one exec, signals, the outcome.
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var cmd *exec.Cmd
	done := make(chan struct{})
	for {
		select {
		case r, ok := <-reqs:
			if !ok {
				// The client closed the session; like sshd without a
				// terminal, the command is left to itself.
				return
			}
			switch r.Type {
			case "exec":
				if cmd != nil {
					r.Reply(false, nil)
					continue
				}
				var m struct{ Command string }
				if err := ssh.Unmarshal(r.Payload, &m); err != nil {
					r.Reply(false, nil)
					continue
				}
				cmd = exec.Command("/bin/sh", "-c", m.Command)
				cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
				cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
				stdin, err := cmd.StdinPipe()
				if err != nil {
					r.Reply(false, nil)
					return
				}
				if err := cmd.Start(); err != nil {
					r.Reply(false, nil)
					return
				}
				// As sshd does, the command's stdin is the channel: it
				// reaches end of file when the client closes its side
				// or the session.
				go func() {
					io.Copy(stdin, ch)
					stdin.Close()
				}()
				s.mu.Lock()
				s.procs[cmd.Process.Pid] = true
				s.execs = append(s.execs, m.Command)
				s.mu.Unlock()
				r.Reply(true, nil)
				go func() {
					defer close(done)
					s.finish(ch, cmd)
				}()
			case "signal":
				var m struct{ Signal string }
				s.mu.Lock()
				refuse := s.noSignal
				s.mu.Unlock()
				if cmd != nil && !refuse && ssh.Unmarshal(r.Payload, &m) == nil {
					if sig, ok := signals[m.Signal]; ok {
						cmd.Process.Signal(sig)
					}
				}
				if r.WantReply {
					r.Reply(false, nil)
				}
			default:
				if r.WantReply {
					r.Reply(false, nil)
				}
			}
		case <-done:
			return
		}
	}
}

var signals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP,
	"KILL": syscall.SIGKILL, "QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1,
}

// finish waits for the command and reports how it ended.
func (s *Server) finish(ch ssh.Channel, cmd *exec.Cmd) {
	err := cmd.Wait()
	s.mu.Lock()
	delete(s.procs, cmd.Process.Pid)
	s.mu.Unlock()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintf(ch.Stderr(), "sshtest: %v\n", err)
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{255}))
		return
	}
	if ws.Signaled() {
		name := "KILL"
		for n, sig := range signals {
			if sig == ws.Signal() {
				name = n
			}
		}
		ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{name, false, "", ""}))
		return
	}
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(ws.ExitStatus())}))
}

// forward serves a direct-tcpip channel, as a jump host does.
func (s *Server) forward(nch ssh.NewChannel) {
	var m struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &m); err != nil {
		nch.Reject(ssh.ConnectionFailed, "bad request")
		return
	}
	target, err := net.Dial("tcp", net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))))
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	defer target.Close()
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	s.mu.Lock()
	s.conns = append(s.conns, target)
	s.mu.Unlock()
	go ssh.DiscardRequests(reqs)
	// When either side stops, both are closed, so that nothing is left
	// waiting on a peer that is gone.
	stop := make(chan struct{}, 2)
	go func() { io.Copy(target, ch); stop <- struct{}{} }()
	go func() { io.Copy(ch, target); stop <- struct{}{} }()
	<-stop
}
