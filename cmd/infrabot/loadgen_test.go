package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/slack/slacktest"
)

// The benchmarks' load generator, in the manner of wrk: each request is
// rendered to bytes before the clock starts, written whole on a
// keep-alive HTTP/1.1 connection, and its answer read with net/http's
// ReadResponse (a header map an answer) on the same goroutine. Go's http.Client spends about as much CPU
// on a request as the handler it measures (two goroutines per
// connection, header maps, a context and a timer per request); on a
// 2-CPU machine, where the client and the server share the CPUs, that
// was a fifth of them taken from the server and counted against it.

// maxLoadConns bounds the connections of an open-loop run: a load that
// outruns the server is held in the generator's queue beyond it, and
// each request's latency counts from when it was due.
const maxLoadConns = 1024

// rawRequest renders r as HTTP/1.1 bytes for the server at base.
func rawRequest(base string, r *slacktest.Request) ([]byte, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", r.Path, u.Host, len(r.Body))
	if err := r.Header.Write(&buf); err != nil {
		return nil, err
	}
	buf.WriteString("\r\n")
	buf.Write(r.Body)
	return buf.Bytes(), nil
}

// loadTimeout bounds one request, from writing it to reading its
// answer's last byte: a server that stops answering fails the benchmark
// instead of hanging it.
const loadTimeout = 30 * time.Second

// loadConn is one keep-alive connection of the load generator.
type loadConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	buf  bytes.Buffer // the answer's body, read into again for the next
	body []byte
}

// do writes raw and reads the answer to it: its status, and its body,
// valid until the next call. A connection the server closed is dialled
// again for the next request.
func (lc *loadConn) do(raw []byte) (int, []byte, error) {
	if lc.c == nil {
		c, err := net.DialTimeout("tcp", lc.addr, loadTimeout)
		if err != nil {
			return 0, nil, err
		}
		lc.c, lc.r = c, bufio.NewReaderSize(c, 16<<10)
	}
	lc.c.SetDeadline(time.Now().Add(loadTimeout))
	status, closing, err := lc.read(raw)
	if err != nil || closing {
		lc.close()
	}
	return status, lc.body, err
}

func (lc *loadConn) close() {
	if lc.c != nil {
		lc.c.Close()
		lc.c = nil
	}
}

func (lc *loadConn) read(raw []byte) (status int, closing bool, err error) {
	if _, err := lc.c.Write(raw); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(lc.r, nil)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	lc.buf.Reset()
	_, err = lc.buf.ReadFrom(resp.Body)
	lc.body = lc.buf.Bytes()
	return resp.StatusCode, resp.Close, err
}

// loadPool hands out keep-alive connections, the one used last first, so
// that an open loop dials only as many as it has requests in flight at
// once, and none while one is idle: a dial counted in a request's
// latency is a cost no real client pays each time.
type loadPool struct {
	addr  string
	slots chan struct{} // one per connection in use: at most maxLoadConns
	mu    sync.Mutex
	idle  []*loadConn
}

func newLoadPool(addr string) *loadPool {
	return &loadPool{addr: addr, slots: make(chan struct{}, maxLoadConns)}
}

// get returns an idle connection, or a new one; it waits while
// maxLoadConns are in use.
func (p *loadPool) get() *loadConn {
	p.slots <- struct{}{}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		lc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return lc
	}
	return &loadConn{addr: p.addr}
}

func (p *loadPool) put(lc *loadConn) {
	p.mu.Lock()
	p.idle = append(p.idle, lc)
	p.mu.Unlock()
	<-p.slots
}

func (p *loadPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, lc := range p.idle {
		lc.close()
	}
}

// loadResult is what the clients saw.
type loadResult struct {
	lat  []time.Duration
	busy int
	// answered counts the answers that carried something other than
	// "busy": for a slash command, its reply.
	answered int
	elapsed  time.Duration
}

func (r loadResult) report(b *testing.B) {
	slices.Sort(r.lat)
	if len(r.lat) == 0 {
		return
	}
	b.ReportMetric(float64(r.lat[len(r.lat)*50/100].Microseconds()), "ack-p50-µs")
	b.ReportMetric(float64(r.lat[min(len(r.lat)-1, len(r.lat)*99/100)].Microseconds()), "ack-p99-µs")
}

// load sends reqs to base: from clients connections as fast as they are
// answered (rate 0), or each at its due time at rate per second, on up
// to maxLoadConns connections. Any answer but 200 fails the
// benchmark, except "busy".
func load(b testing.TB, base string, reqs []*slacktest.Request, rate float64, clients int) loadResult {
	raws := make([][]byte, len(reqs))
	for i, r := range reqs {
		raw, err := rawRequest(base, r)
		if err != nil {
			b.Fatal(err)
		}
		raws[i] = raw
	}
	addr := strings.TrimPrefix(base, "http://")
	lat := make([]time.Duration, len(reqs))
	var busy, answered, failed atomic.Int64
	var firstFailure atomic.Value
	send := func(lc *loadConn, i int, due time.Time) {
		status, body, err := lc.do(raws[i])
		lat[i] = time.Since(due)
		switch {
		case err != nil:
			failed.Add(1)
			firstFailure.CompareAndSwap(nil, err.Error())
		case isBusy(status, body):
			busy.Add(1)
		case status != 200:
			failed.Add(1)
			firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %s", status, body))
		case len(body) > 0:
			answered.Add(1)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	if rate == 0 {
		var next atomic.Int64
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lc := &loadConn{addr: addr}
				defer lc.close()
				for i := int(next.Add(1) - 1); i < len(reqs); i = int(next.Add(1) - 1) {
					send(lc, i, time.Now())
				}
			}()
		}
	} else {
		pool := newLoadPool(addr)
		defer pool.close()
		interval := time.Duration(float64(time.Second) / rate)
		for i := range reqs {
			due := start.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				lc := pool.get()
				send(lc, i, due)
				pool.put(lc)
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed; the first: %v", n, len(reqs), firstFailure.Load())
	}
	return loadResult{lat: lat, busy: int(busy.Load()), answered: int(answered.Load()), elapsed: elapsed}
}

// isBusy reports whether an answer says infrabot is too busy: a 503, or
// (Slack's way) a 200 whose ephemeral text says so.
func isBusy(status int, body []byte) bool {
	return status == 503 || (status == 200 && bytes.Contains(body, []byte("busy")))
}

// The load generator reads every kind of answer net/http writes — with a
// length, chunked, or running to the close of the connection — and
// tells busy answers from the others, in both of its modes.
func TestLoadGeneratorReadsEveryAnswer(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := served.Add(1)
		switch n % 4 {
		case 0: // a length
			w.Write(append([]byte("echo "), body...))
		case 1: // chunked: flushed before its end
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case 2: // no length and not chunked: the body ends with the connection
			w.Header().Set("Transfer-Encoding", "identity")
			w.Write([]byte("and goodbye"))
			w.(http.Flusher).Flush()
		case 3:
			w.Write([]byte(bot.BusyText("", "whoami")))
		}
	}))
	defer srv.Close()
	slack := &slacktest.App{URL: srv.URL, Secret: benchSecret}
	reqs := make([]*slacktest.Request, 200)
	for i := range reqs {
		reqs[i] = slack.CommandRequest("U1", "C1", "whoami")
	}
	for _, rate := range []float64{0, 2000} {
		served.Store(0)
		res := load(t, srv.URL, reqs, rate, 8)
		if res.busy != len(reqs)/4 {
			t.Errorf("rate %v: %d answers counted busy, want %d", rate, res.busy, len(reqs)/4)
		}
		if want := len(reqs) - len(reqs)/4; res.answered != want {
			t.Errorf("rate %v: %d answers counted as replies, want %d", rate, res.answered, want)
		}
		if got := served.Load(); got != int64(len(reqs)) {
			t.Errorf("rate %v: the server answered %d requests, want %d", rate, got, len(reqs))
		}
		for i, d := range res.lat {
			if d <= 0 {
				t.Fatalf("rate %v: request %d has no latency", rate, i)
			}
		}
	}
}

// An answer that never has a body (204, 304) is read as empty, and the
// connection serves the next request; a connection the server says it
// closes, in a list of tokens, is dialled again.
func TestLoadConnReadsAnswersWithoutBodiesAndClosings(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/closing":
			w.Header().Set("Connection", "keep-alive, close")
			w.Write([]byte("bye"))
		default:
			w.Write([]byte("hello"))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	lc := &loadConn{addr: strings.TrimPrefix(srv.URL, "http://")}
	defer lc.close()
	get := func(path string) (int, string) {
		t.Helper()
		status, body, err := lc.do([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return status, string(body)
	}
	if status, body := get("/empty"); status != http.StatusNoContent || body != "" {
		t.Errorf("GET /empty = %d %q, want 204 and no body", status, body)
	}
	if status, body := get("/"); status != http.StatusOK || body != "hello" {
		t.Errorf("GET / after a 204 = %d %q, want 200 hello", status, body)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for two requests, want the 204's reused", n)
	}
	get("/closing")
	get("/")
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want a new one after the server closed the first", n)
	}
}
