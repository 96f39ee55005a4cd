package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/infrabot/infrabot/actions"
)

// pool keeps one connection per user@host, dialled once however many
// commands ask for it at the same time.
type pool struct {
	mu     sync.Mutex
	m      map[string]*conn
	closed bool
}

type conn struct {
	ready  chan struct{} // closed when the dial is over
	client *ssh.Client
	err    error
}

// get returns the connection for key, dialling it with dial when there is
// none. A failed dial is not kept: the next caller tries again.
func (p *pool) get(ctx context.Context, key string, dial func(context.Context) (*ssh.Client, error)) (*ssh.Client, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, actions.Errorf(actions.Unavailable, "the SSH connections are closed")
		}
		c, ok := p.m[key]
		if !ok {
			c = &conn{ready: make(chan struct{})}
			p.m[key] = c
			p.mu.Unlock()
			c.client, c.err = dial(ctx)
			p.mu.Lock()
			if c.err != nil || p.closed {
				delete(p.m, key)
				if c.err == nil {
					c.client.Close()
					c.err = actions.Errorf(actions.Unavailable, "the SSH connections are closed")
				}
			}
			p.mu.Unlock()
			close(c.ready)
			if c.err == nil {
				go p.forget(key, c.client)
			}
			return c.client, c.err
		}
		p.mu.Unlock()
		select {
		case <-c.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if c.err == nil {
			return c.client, nil
		}
		// Another caller's dial failed; when that was because its own
		// context ended, this caller tries for itself.
		if !errors.Is(c.err, context.Canceled) && !errors.Is(c.err, context.DeadlineExceeded) || ctx.Err() != nil {
			return nil, c.err
		}
	}
}

// forget removes a connection from the pool when it ends.
func (p *pool) forget(key string, c *ssh.Client) {
	c.Wait()
	p.dropClient(key, c)
}

// dropClient closes c and removes it if it is still the one kept for key.
func (p *pool) dropClient(key string, c *ssh.Client) {
	p.mu.Lock()
	if cur, ok := p.m[key]; ok && cur.client == c {
		delete(p.m, key)
	}
	p.mu.Unlock()
	c.Close()
}

// drop closes the connection kept for key, if any.
func (p *pool) drop(key string) {
	p.mu.Lock()
	c, ok := p.m[key]
	p.mu.Unlock()
	if ok {
		select {
		case <-c.ready:
			if c.client != nil {
				p.dropClient(key, c.client)
			}
		default:
		}
	}
}

func (p *pool) closeAll() {
	p.mu.Lock()
	p.closed = true
	m := p.m
	p.m = map[string]*conn{}
	p.mu.Unlock()
	for _, c := range m {
		<-c.ready
		if c.client != nil {
			c.client.Close()
		}
	}
}

// client returns a connection to addr as user, through the bastion when
// there is one.
func (r *Remote) client(ctx context.Context, user, addr string) (*ssh.Client, error) {
	return r.conns.get(ctx, user+"@"+addr, func(ctx context.Context) (*ssh.Client, error) {
		if b := r.cfg.Bastion; b != nil {
			bUser := b.User
			if bUser == "" {
				bUser = r.cfg.User
			}
			bAddr := r.addr(b.Addr)
			if bAddr != addr {
				bastion, err := r.conns.get(ctx, bUser+"@"+bAddr, func(ctx context.Context) (*ssh.Client, error) {
					return r.dial(ctx, bUser, bAddr, nil)
				})
				if err != nil {
					return nil, err
				}
				return r.dial(ctx, user, addr, bastion)
			}
		}
		return r.dial(ctx, user, addr, nil)
	})
}

// dial connects and authenticates to addr, directly or through via.
func (r *Remote) dial(ctx context.Context, user, addr string, via *ssh.Client) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if via != nil {
		nc, err = via.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, r.dialError(ctx, addr, fmt.Sprintf("cannot reach %s through the bastion", addr), err)
		}
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, r.dialError(ctx, addr, fmt.Sprintf("cannot reach %s", addr), err)
		}
	}
	auth, closeAgent := r.auth()
	defer closeAgent()
	cfg := &ssh.ClientConfig{
		User:              user,
		Auth:              auth,
		HostKeyCallback:   r.keys.check,
		HostKeyAlgorithms: r.keys.algorithms(addr),
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	cc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if !stop() {
		if err == nil {
			cc.Close()
		}
		return nil, r.dialError(ctx, addr, fmt.Sprintf("no SSH handshake with %s", addr), ctx.Err())
	}
	if err != nil {
		nc.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			r.log.Warn("ssh: host key refused", "host", addr, "reason", hk.Reason, "fingerprint", hk.Fingerprint)
			return nil, &actions.Error{Kind: actions.Permission, Message: hk.Error(), Err: hk}
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, &actions.Error{Kind: actions.Permission, Message: fmt.Sprintf("%s refused the key for %s", addr, user), Err: err}
		}
		return nil, &actions.Error{Kind: actions.Unavailable, Message: fmt.Sprintf("no SSH handshake with %s", addr), Err: err}
	}
	c := ssh.NewClient(cc, chans, reqs)
	r.log.Debug("ssh: connected", "host", addr, "user", user, "via_bastion", via != nil)
	go keepAlive(c, r.cfg.KeepAlive, r.cfg.KeepAliveMax)
	return c, nil
}

func (r *Remote) dialError(ctx context.Context, addr, msg string, err error) error {
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		msg = fmt.Sprintf("%s: no answer within %s", msg, r.cfg.ConnectTimeout)
	}
	return &actions.Error{Kind: actions.Unavailable, Message: msg, Err: err}
}

// auth returns the authentication methods: the configured key first, then
// the agent's keys. The returned function closes the agent connection.
func (r *Remote) auth() ([]ssh.AuthMethod, func()) {
	var methods []ssh.AuthMethod
	var signers []ssh.Signer
	if r.key != nil {
		signers = append(signers, r.key)
	}
	closer := func() {}
	if r.cfg.Agent {
		sock := r.cfg.AgentSocket
		if sock == "" {
			sock = os.Getenv("SSH_AUTH_SOCK")
		}
		if sock != "" {
			if ac, err := net.DialTimeout("unix", sock, r.cfg.ConnectTimeout); err == nil {
				closer = func() { ac.Close() }
				if more, err := agent.NewClient(ac).Signers(); err == nil {
					signers = append(signers, more...)
				} else {
					r.log.Warn("ssh: the agent did not list its keys", "err", err)
				}
			} else {
				r.log.Warn("ssh: cannot reach the agent", "err", err)
			}
		}
	}
	methods = append(methods, ssh.PublicKeys(signers...))
	return methods, closer
}

// keepAlive probes the connection every interval and closes it after max
// probes without an answer, so that a command on a host that vanished
// fails instead of waiting forever.
func keepAlive(c *ssh.Client, every time.Duration, max int) {
	ended := make(chan struct{})
	go func() {
		c.Wait()
		close(ended)
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	answered := make(chan struct{}, 1)
	pending, missed := false, 0
	for {
		select {
		case <-ended:
			return
		case <-answered:
			pending, missed = false, 0
		case <-t.C:
			if pending {
				if missed++; missed >= max {
					c.Close()
					return
				}
				continue
			}
			pending = true
			go func() {
				// Any answer, even "unsupported", shows the host is there.
				if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					answered <- struct{}{}
				}
			}()
		}
	}
}
