package simulator

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Default delays of the server lifecycle, used when Options leaves them 0.
const (
	DefaultBuildDelay  = 2 * time.Second
	DefaultDeleteDelay = 1 * time.Second
)

// Options configures a Simulator. The zero value is a usable cloud with one
// user "admin" (password "admin") who is admin of project "admin" in the
// domain "Default".
type Options struct {
	User, Password string        // defaults "admin" / "admin"
	Project        string        // default "admin"; domain is "Default" (id "default")
	BuildDelay     time.Duration // BUILD → ACTIVE; 0 means the default 2s
	DeleteDelay    time.Duration // 0 means the default 1s
	Logger         *slog.Logger  // nil = discard
	// Quotas are the project's Nova quotas where they differ from Nova's
	// defaults ("instances", "cores", "ram" in MB, …); -1 is unlimited.
	Quotas map[string]int
}

// Simulator is an in-memory OpenStack cloud that speaks the Keystone v3,
// Nova v2.1, Glance v2 and Neutron v2.0 wire formats. It is an http.Handler;
// Start serves it on a loopback port. All methods are safe for concurrent
// use.
type Simulator struct {
	opts Options
	log  *slog.Logger

	// now is the clock behind every timestamp and every lifecycle step, so
	// tests can move time instead of sleeping.
	now func() time.Time

	routes []route

	mu sync.Mutex
	identity
	compute
	images   []*image
	network  netState
	controls controls

	srvMu sync.Mutex
	srv   *http.Server
	ln    net.Listener
	done  chan struct{}
	// stop ends the context of every request Start's server serves, so
	// that Close also lets go of requests held by an injected delay.
	stop context.CancelFunc
}

// New returns a Simulator seeded with flavors, images, networks, a security
// group and a key pair (see the package documentation). It serves nothing
// until Start is called or it is mounted as an http.Handler.
func New(opts Options) *Simulator {
	if opts.User == "" {
		opts.User = "admin"
	}
	if opts.Password == "" {
		opts.Password = "admin"
	}
	if opts.Project == "" {
		opts.Project = "admin"
	}
	if opts.BuildDelay <= 0 {
		opts.BuildDelay = DefaultBuildDelay
	}
	if opts.DeleteDelay <= 0 {
		opts.DeleteDelay = DefaultDeleteDelay
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Simulator{opts: opts, log: log, now: time.Now}
	s.seed(s.now().UTC())
	s.routes = s.buildRoutes()
	return s
}

// Start listens on addr (for example "127.0.0.1:0") and serves in the
// background until Close.
func (s *Simulator) Start(addr string) error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return errors.New("simulator: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("simulator stopped serving", "err", err)
		}
	}()
	s.log.Info("OpenStack simulator listening", "url", "http://"+ln.Addr().String())
	return nil
}

// URL returns the base URL the simulator serves on, "http://127.0.0.1:PORT",
// or "" before Start.
func (s *Simulator) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// AuthURL returns the Keystone v3 endpoint, URL() + "/v3", to use as the
// identity endpoint (OS_AUTH_URL).
func (s *Simulator) AuthURL() string { return s.URL() + "/v3" }

// Close stops serving. Requests in flight, including ones held by an
// injected delay, are cut off. Close on a simulator never started is a
// no-op.
func (s *Simulator) Close() error {
	s.srvMu.Lock()
	srv, done, stop := s.srv, s.done, s.stop
	s.srvMu.Unlock()
	if srv == nil {
		return nil
	}
	// Connections first, so that a held request let go by stop has no one
	// left to answer.
	err := srv.Close()
	stop()
	<-done
	return err
}

// ServeHTTP serves the simulated cloud: /v3 (Keystone), /compute (Nova),
// /image (Glance), /network (Neutron) and /_sim (the control API).
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &heldResponse{ResponseWriter: w}
	defer func() {
		rec.send()
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", cmp.Or(rec.status, http.StatusOK))
	}()
	if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveControl(rec, r)
		return
	}
	svc := serviceOf(r.URL.Path)
	if !s.applyFault(rec, r, svc) {
		return
	}
	rt, params, status := s.match(r.Method, r.URL.Path)
	if status != 0 {
		msg := "The resource could not be found."
		if status == http.StatusMethodNotAllowed {
			msg = "The method specified is not allowed for this resource."
		}
		writeError(rec, svc, &apiError{status: status, msg: msg})
		return
	}
	req := &request{Request: r, params: params, svc: svc}
	if rt.auth {
		tok, ok := s.validToken(r.Header.Get("X-Auth-Token"))
		// Only Keystone takes a token without a project scope.
		if !ok || (svc != identitySvc && !tok.scoped) {
			writeUnauthorized(rec, r)
			return
		}
		req.token = tok
	}
	rt.handle(rec, req)
}

// request is an incoming call with its path parameters and the caller's
// token, when the route needs one.
type request struct {
	*http.Request
	params map[string]string
	svc    service
	token  *token
}

func (r *request) param(name string) string { return r.params[name] }

// baseURL is the scheme and host the caller used, so links and catalog
// entries point back at whatever address the simulator was reached on.
func (r *request) baseURL() string { return requestBase(r.Request) }

// maxBody bounds request bodies; real services refuse far smaller ones.
const maxBody = 1 << 20

// readBody returns the request body, or nil when it is too large to read.
func readBody(r *request) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(b) > maxBody {
		return nil, false
	}
	return b, true
}

// sleep waits for d on the real clock, returning false when ctx ends
// first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// heldResponse keeps a response until the handler has returned. Handlers
// write while holding s.mu; sending only afterwards means a caller slow to
// read its answer never holds up the others.
type heldResponse struct {
	http.ResponseWriter
	status int // 0 until the handler sets it
	body   bytes.Buffer
}

func (h *heldResponse) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.body.Write(b)
}

// send writes the response out, if the handler gave one.
func (h *heldResponse) send() {
	if h.status == 0 {
		return
	}
	h.ResponseWriter.WriteHeader(h.status)
	_, _ = h.ResponseWriter.Write(h.body.Bytes())
}
