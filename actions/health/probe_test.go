package health_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/health/healthtest"
)

// A TCP port that closes fails its check, with what the dialer said.
func TestTCPPortThatCloses(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	w := newWorld(t, []health.Check{{Name: "registry-tcp", Kind: health.TCP, Address: addr, Schedule: "@every 30s"}})
	w.step(30 * time.Second)
	w.Expect(w.As("carol", "checks"), false, "registry-tcp", "up", "connected")
	ln.Close()
	w.step(30 * time.Second)
	w.step(30 * time.Second)
	m := w.onePost("incident 1: registry-tcp")
	if !strings.Contains(m.Text, "connection refused") {
		t.Errorf("the incident says %q, want the refusal", m.Text)
	}
}

// A TLS server whose certificate expires within cert_valid_for fails its
// check, by infrabot's clock.
func TestCertificateAboutToExpire(t *testing.T) {
	t.Parallel()
	var w *world
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC) // the world's clock
	cert, pool := certificate(t, now.Add(-30*24*time.Hour), now.Add(10*24*time.Hour))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := httpCheck("logs-tls", srv.URL)
	c.Expect.CertValidFor = 14 * 24 * time.Hour
	ok := httpCheck("logs-tls-week", srv.URL)
	ok.Expect.CertValidFor = 7 * 24 * time.Hour
	w = newWorld(t, []health.Check{c, ok}, func(o *health.Options) { o.RootCAs = pool })
	w.step(time.Minute)
	w.step(time.Minute)
	m := w.onePost("incident 1: logs-tls")
	if !strings.Contains(m.Text, "the certificate expires Dec 1") || !strings.Contains(m.Text, "sooner than 14d") {
		t.Errorf("the incident says %q", m.Text)
	}
	w.Expect(w.As("carol", "check logs-tls-week"), false, "check logs-tls-week passed")
}

// An http check judges its URL's own answer, not the page a redirect
// leads to: a 301 passes expect.status 301, and fails the default
// expectation (any 2xx), saying where it leads, even when that page
// answers 200.
func TestRedirectIsTheURLsAnswer(t *testing.T) {
	t.Parallel()
	tg := healthtest.NewService(t)
	srv := httptest.NewServer(http.RedirectHandler(tg.URL+"/login", http.StatusMovedPermanently))
	t.Cleanup(srv.Close)
	moved := httpCheck("moved", srv.URL+"/health")
	moved.Expect = health.Expect{Status: 301}
	plain := httpCheck("plain", srv.URL+"/health")
	plain.Expect = health.Expect{}
	w := newWorld(t, []health.Check{moved, plain})
	w.step(time.Minute)
	w.Expect(w.As("carol", "check moved"), false, "check moved passed", "status 301")
	w.Expect(w.As("carol", "check plain"), false, "check plain failed", "redirected to "+tg.URL+"/login (status 301)")
	if n := tg.Hits.Load(); n != 0 {
		t.Errorf("the page redirected to was asked %d times", n)
	}
}

// cert_valid_for judges the certificate of the check's URL, also when
// that URL redirects to plain http, where there is no certificate: the
// check fails, for the redirect, or, when the redirect is expected, for
// the certificate.
func TestCertificateOfARedirectingURL(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC) // the world's clock
	cert, pool := certificate(t, now.Add(-30*24*time.Hour), now.Add(24*time.Hour))
	plain := healthtest.NewService(t)
	srv := httptest.NewUnstartedServer(http.RedirectHandler(plain.URL+"/health", http.StatusFound))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := httpCheck("logs-tls", srv.URL+"/health")
	c.Expect = health.Expect{CertValidFor: 14 * 24 * time.Hour}
	moved := httpCheck("logs-tls-moved", srv.URL+"/health")
	moved.Expect = health.Expect{Status: 302, CertValidFor: 14 * 24 * time.Hour}
	w := newWorld(t, []health.Check{c, moved}, func(o *health.Options) { o.RootCAs = pool })
	w.Expect(w.As("carol", "check logs-tls"), false, "check logs-tls failed", "redirected to "+plain.URL+"/health (status 302)")
	w.Expect(w.As("carol", "check logs-tls-moved"), false, "check logs-tls-moved failed", "the certificate expires Nov 22", "sooner than 14d")
}

// certificate is a self-signed certificate for 127.0.0.1 valid from
// notBefore to notAfter, and a pool that trusts it.
func certificate(t *testing.T, notBefore, notAfter time.Time) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "logs.test"},
		NotBefore: notBefore, NotAfter: notAfter,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// hangingCheck is an HTTP check on a target that answers nothing until
// the returned release is called (at the test's end at the latest).
func hangingCheck(t *testing.T, name string) (health.Check, func()) {
	g := newGate()
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-g.ch:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(g.open)
	c := httpCheck(name, hanging.URL)
	c.Timeout = time.Minute
	return c, g.open
}

// resultCounter counts the results each check reported, and hands each
// check's name to got as it reports.
type resultCounter struct {
	mu  sync.Mutex
	n   map[string]int
	got chan string
}

func newResultCounter() *resultCounter {
	return &resultCounter{n: map[string]int{}, got: make(chan string, 100)}
}

func (c *resultCounter) onResult(check string, _ health.Result) {
	c.mu.Lock()
	c.n[check]++
	c.mu.Unlock()
	c.got <- check
}

func (c *resultCounter) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// A hanging target holds up only its own check: the others run and
// report while it hangs, and its next slot is skipped, not queued.
func TestHangingTargetDelaysNoOne(t *testing.T) {
	t.Parallel()
	hang, release := hangingCheck(t, "hangs")
	tg := healthtest.NewService(t)
	results := newResultCounter()
	w := newWorld(t, []health.Check{hang, httpCheck("fast", tg.URL)}, func(o *health.Options) {
		o.OnResult = results.onResult
	})
	for range 3 {
		w.Clock.Advance(time.Minute)
		w.Tick()
		if c := <-results.got; c != "fast" {
			t.Fatalf("%s reported first, while hangs should still hang", c)
		}
	}
	release()
	w.mod.Wait()
	if n := results.counts(); n["fast"] != 3 || n["hangs"] != 1 {
		t.Errorf("results %v: want fast 3 times and hangs once (its later slots skipped while it hung)", n)
	}
}

// With the limit reached (two probe workers, one held by a hanging
// target), every other run still gets a worker in turn, and the hanging
// one holds up no one.
func TestRunsQueueForWorkersAtTheLimit(t *testing.T) {
	t.Parallel()
	hang, release := hangingCheck(t, "hangs")
	tg := healthtest.NewService(t)
	checks := []health.Check{hang}
	for i := range 8 {
		checks = append(checks, httpCheck(fmt.Sprintf("fast-%d", i), tg.URL))
	}
	results := newResultCounter()
	w := newWorld(t, checks, func(o *health.Options) {
		o.Limit = 2
		o.OnResult = results.onResult
	})
	for range 2 {
		w.Clock.Advance(time.Minute)
		w.Tick()
		for range 8 {
			if c := <-results.got; c == "hangs" {
				t.Fatalf("%s reported while it should still hang", c)
			}
		}
	}
	release()
	w.mod.Wait()
	n := results.counts()
	for _, c := range checks[1:] {
		if n[c.Name] != 2 {
			t.Errorf("%s ran %d times, want 2 (results %v)", c.Name, n[c.Name], n)
		}
	}
	if n["hangs"] != 1 {
		t.Errorf("hangs ran %d times, want once (its later slot skipped while it hung)", n["hangs"])
	}
}

// A heartbeat that stops pinging opens an incident; a ping resolves it;
// a start with no success within the grace fails it; so does a failure
// or a non-zero exit code. Pings go through the HTTP handler.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	w := newWorld(t, []health.Check{{Name: "nightly-promotion", Kind: health.Heartbeat, Period: 24 * time.Hour, Grace: 2 * time.Hour, Token: "hb-0123456789abcdef"}})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { w.mod.Handler().ServeHTTP(rw, r) }))
	t.Cleanup(srv.Close)
	ping := func(path string, want int) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %d %q, want %d", path, resp.StatusCode, body, want)
		}
		if strings.Contains(string(body), "hb-0123456789abcdef") {
			t.Errorf("the answer shows the token: %q", body)
		}
	}
	ping("/ping/hb-0123456789abcdef", 200)
	w.step(25 * time.Hour)
	if len(w.posts("incident")) != 0 {
		t.Fatal("an incident opened before period + grace had passed")
	}
	w.step(2 * time.Hour)
	m := w.onePost("incident 1: nightly-promotion")
	if !strings.Contains(m.Text, "no ping since Nov 21 12:00 UTC") {
		t.Errorf("the incident says %q", m.Text)
	}
	w.step(time.Hour)
	w.onePost("incident") // late again, still the same incident

	ping("/ping/hb-0123456789abcdef/0", 200)
	if m := w.onePost("incident 1"); !strings.Contains(m.Title, "resolved") {
		t.Fatalf("a ping did not resolve the incident: %s", m.Summary)
	}

	ping("/ping/hb-0123456789abcdef/start", 200)
	w.step(time.Hour)
	if len(w.posts("incident 2")) != 0 {
		t.Fatal("a start within its grace opened an incident")
	}
	w.step(90 * time.Minute)
	if m := w.onePost("incident 2"); !strings.Contains(m.Text, "reported no success within 2h") {
		t.Errorf("incident 2 says %q", m.Text)
	}
	ping("/ping/hb-0123456789abcdef", 200)
	ping("/ping/hb-0123456789abcdef/3", 200)
	if m := w.onePost("incident 3"); !strings.Contains(m.Text, "exited with code 3") {
		t.Errorf("incident 3 says %q", m.Text)
	}
	ping("/ping/hb-0123456789abcdef", 200)
	ping("/ping/hb-0123456789abcdef/fail", 200)
	w.onePost("incident 4")

	ping("/ping/not-a-token", 404)
	ping("/ping/hb-0123456789abcdef/later", 400)
	ping("/ping/", 404)
	ping("/ping/hb-0123456789abcdef/0/1", 404)
}

// A heartbeat that never pinged is late period + grace after infrabot
// started watching it, even across restarts.
func TestHeartbeatThatNeverPings(t *testing.T) {
	t.Parallel()
	w := newWorld(t, []health.Check{{Name: "backup", Kind: health.Heartbeat, Period: time.Hour, Grace: 10 * time.Minute, Token: "t"}})
	w.step(time.Hour)
	w.restart()
	w.step(5 * time.Minute)
	if len(w.posts("incident")) != 0 {
		t.Fatal("late before period + grace")
	}
	w.step(6 * time.Minute)
	w.onePost("incident 1: backup")
}

// A first ping whose client went away before the module first read the
// store disables nothing: that read is not the request's to cancel, so a
// later ping is recorded and the checks run.
func TestCancelledFirstPingLeavesTheModuleWorking(t *testing.T) {
	t.Parallel()
	tg := healthtest.NewService(t)
	results := newResultCounter()
	w := newWorld(t, []health.Check{
		{Name: "nightly", Kind: health.Heartbeat, Period: 24 * time.Hour, Grace: time.Hour, Token: "hb-secret"},
		httpCheck("web", tg.URL),
	}, func(o *health.Options) { o.OnResult = results.onResult })
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the job's curl gave up
	_, _ = w.mod.Ping(ctx, "hb-secret", health.Ping{})
	if _, err := w.mod.Ping(context.Background(), "hb-secret", health.Ping{}); err != nil {
		t.Fatalf("a ping after the cancelled one fails: %v", err)
	}
	w.step(time.Minute)
	if n := results.counts()["web"]; n != 1 {
		t.Errorf("web ran %d times after the cancelled ping, want once", n)
	}
	w.Expect(w.As("carol", "checks"), false, "web", "nightly", "up")
}

// A first read of the store that fails is not kept: the next tick reads
// again, and once the state can be read the checks run, with no restart.
func TestStateThatCouldNotBeReadIsReadAgain(t *testing.T) {
	t.Parallel()
	tg := healthtest.NewService(t)
	results := newResultCounter()
	w := newWorld(t, []health.Check{httpCheck("web", tg.URL)}, func(o *health.Options) { o.OnResult = results.onResult })
	store, err := w.DB.ModuleStore(health.Name, health.Buckets)
	if err != nil {
		t.Fatal(err)
	}
	put := func(v string) {
		t.Helper()
		err := store.Update(context.Background(), func(tx actions.Tx) error { return tx.Bucket("checks").Put([]byte("web"), []byte(v)) })
		if err != nil {
			t.Fatal(err)
		}
	}
	put("{not json")
	w.step(time.Minute)
	if n := results.counts()["web"]; n != 0 {
		t.Fatalf("web ran %d times with its state unreadable", n)
	}
	put(`{"failures": 1}`)
	w.step(time.Minute)
	if n := results.counts()["web"]; n != 1 {
		t.Errorf("web ran %d times once its state could be read, want once", n)
	}
	w.Expect(w.As("carol", "check web"), false, "check web passed")
}

// fleet is an environment's declared servers and what the cloud has.
type fleet struct {
	mu       sync.Mutex
	declared []string
	servers  []actions.Server
}

func (f *fleet) Servers(ctx context.Context, env string) ([]string, []actions.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if env != "staging" {
		return nil, nil, actions.Errorf(actions.NotFound, "there is no environment %q", env)
	}
	return f.declared, slices.Clone(f.servers), nil
}

func (f *fleet) set(servers ...actions.Server) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servers = servers
}

// An openstack check passes when every declared server is ACTIVE, and
// says which are not.
func TestOpenStackServersActive(t *testing.T) {
	t.Parallel()
	f := &fleet{declared: []string{"staging-logserver-1", "staging-promoter-1", "staging-promoter-2"}}
	active := func(name string) actions.Server { return actions.Server{Name: name, Status: "ACTIVE"} }
	f.set(active("staging-logserver-1"), active("staging-promoter-1"), active("staging-promoter-2"))
	w := newWorld(t, []health.Check{{Name: "staging-servers", Kind: health.OpenStack, Environment: "staging"}},
		func(o *health.Options) { o.Fleet = f })
	w.step(time.Minute)
	w.Expect(w.As("carol", "checks"), false, "staging-servers", "3 servers ACTIVE")
	f.set(active("staging-logserver-1"), actions.Server{Name: "staging-promoter-1", Status: "ERROR", Fault: "No valid host was found"})
	w.step(time.Minute)
	w.step(time.Minute)
	m := w.onePost("incident 1: staging-servers")
	if want := "staging-promoter-1 ERROR (No valid host was found), staging-promoter-2 missing"; m.Text != want {
		t.Errorf("the incident says %q, want %q", m.Text, want)
	}
}

// Checks the module cannot run are refused when it is made.
func TestUnrunnableChecksAreRefused(t *testing.T) {
	t.Parallel()
	w := actionstest.New(t, actionstest.Options{})
	for i, c := range []health.Check{
		{Name: "p", Kind: health.SSH, Environment: "staging", On: "promoter", Run: "true"},
		{Name: "s", Kind: health.OpenStack, Environment: "staging"},
		{Name: "h", Kind: health.Heartbeat},
		{Name: "t", Kind: health.TCP, Address: "x:1", Schedule: "every minute"},
	} {
		h, err := w.Engine.Module(fmt.Sprintf("health-%d", i), health.Buckets...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := health.New(h, []health.Check{c}, health.Options{Parse: parse}); actions.ErrorKind(err) != actions.Invalid {
			t.Errorf("check %s: error %v, want one of kind invalid", c.Name, err)
		}
	}
}
