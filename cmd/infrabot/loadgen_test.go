package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
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
// keep-alive HTTP/1.1 connection, and its answer read for the status and
// the body and nothing else. Go's http.Client spends about as much CPU
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

// loadConn is one keep-alive connection of the load generator.
type loadConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	body []byte
}

// do writes raw and reads the answer to it: its status, and its body,
// valid until the next call. A connection the server closed is dialled
// again for the next request.
func (lc *loadConn) do(raw []byte) (int, []byte, error) {
	if lc.c == nil {
		c, err := net.Dial("tcp", lc.addr)
		if err != nil {
			return 0, nil, err
		}
		lc.c, lc.r = c, bufio.NewReaderSize(c, 16<<10)
	}
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
	line, err := lc.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("not an HTTP answer: %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for {
		line, err := lc.r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h := strings.TrimSpace(string(line))
		if h == "" {
			break
		}
		name, value, _ := strings.Cut(h, ":")
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			if length, err = strconv.Atoi(value); err != nil || length < 0 {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case "transfer-encoding":
			chunked = strings.EqualFold(value, "chunked")
		case "connection":
			closing = strings.EqualFold(value, "close")
		}
	}
	lc.body = lc.body[:0]
	switch {
	case chunked:
		err = lc.readChunks()
	case length >= 0:
		lc.body = append(lc.body, make([]byte, length)...)
		_, err = io.ReadFull(lc.r, lc.body)
	default: // the body runs to the end of the connection
		lc.body, err = io.ReadAll(lc.r)
		closing = true
	}
	return status, closing, err
}

// readChunks reads a chunked body into lc.body.
func (lc *loadConn) readChunks() error {
	for {
		line, err := lc.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := strings.Cut(strings.TrimSpace(string(line)), ";")
		n, err := strconv.ParseUint(size, 16, 31)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, then the blank line
				line, err := lc.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimSpace(line)) == 0 {
					return nil
				}
			}
		}
		start := len(lc.body)
		lc.body = append(lc.body, make([]byte, n)...)
		if _, err := io.ReadFull(lc.r, lc.body[start:]); err != nil {
			return err
		}
		if crlf, err := lc.r.ReadSlice('\n'); err != nil || len(bytes.TrimSpace(crlf)) != 0 {
			return errors.New("a chunk does not end its line")
		}
	}
}

// loadResult is what the clients saw.
type loadResult struct {
	lat     []time.Duration
	busy    int
	elapsed time.Duration
}

func (r loadResult) report(b *testing.B) {
	slices.Sort(r.lat)
	if len(r.lat) == 0 {
		return
	}
	b.ReportMetric(float64(r.lat[len(r.lat)*50/100].Microseconds()), "ack-p50-µs")
	b.ReportMetric(float64(r.lat[min(len(r.lat)-1, len(r.lat)*99/100)].Microseconds()), "ack-p99-µs")
}

// load sends reqs to base: from benchClients connections as fast as they
// are answered (rate 0), or each at its due time at rate per second, on
// up to maxLoadConns connections. Any answer but 200 fails the
// benchmark, except "busy".
func load(b testing.TB, base string, reqs []*slacktest.Request, rate float64) loadResult {
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
	var busy, failed atomic.Int64
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
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	if rate == 0 {
		var next atomic.Int64
		for range benchClients {
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
		type due struct {
			i  int
			at time.Time
		}
		queue := make(chan due, len(reqs))
		for range min(maxLoadConns, len(reqs)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lc := &loadConn{addr: addr}
				defer lc.close()
				for d := range queue {
					send(lc, d.i, d.at)
				}
			}()
		}
		interval := time.Duration(float64(time.Second) / rate)
		for i := range reqs {
			at := start.Add(time.Duration(i) * interval)
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
			queue <- due{i, at}
		}
		close(queue)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed; the first: %v", n, len(reqs), firstFailure.Load())
	}
	return loadResult{lat: lat, busy: int(busy.Load()), elapsed: elapsed}
}

// isBusy reports whether an answer says infrabot is too busy: a 503, or
// (Slack's way) a 200 whose ephemeral text says so.
func isBusy(status int, body []byte) bool {
	return status == 503 || (status == 200 && bytes.Contains(body, []byte("busy")))
}

// The load generator reads every kind of answer net/http writes — with a
// length, chunked, or closing the connection — and tells busy answers
// from the others, in both of its modes.
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
		case 2:
			w.Header().Set("Connection", "close")
			w.Write([]byte("and goodbye"))
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
		res := load(t, srv.URL, reqs, rate)
		if res.busy != len(reqs)/4 {
			t.Errorf("rate %v: %d answers counted busy, want %d", rate, res.busy, len(reqs)/4)
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
