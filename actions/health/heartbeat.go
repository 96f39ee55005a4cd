package health

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// heartbeatDue tells whether a heartbeat is late: no success within
// Period+Grace of the last one (or of infrabot first knowing the check),
// or a start not followed by a success within Grace. A heartbeat that is
// not late has nothing to record: only pings count as its successes.
func (x *Module) heartbeatDue(cs *checkState) (Result, bool) {
	now := x.h.Now()
	d := cs.d()
	c := &d.check
	cs.mu.Lock()
	defer cs.mu.Unlock()
	rec := &cs.rec
	if !rec.Started.IsZero() && now.After(rec.Started.Add(c.Grace)) {
		return Result{Detail: fmt.Sprintf("started at %s and reported no success within %s", actions.Stamp(rec.Started), span(c.Grace))}, true
	}
	base, what := rec.LastPing, "the last ping"
	if base.IsZero() {
		base, what = rec.FirstSeen, "infrabot started watching"
	}
	if deadline := base.Add(c.Period + c.Grace); now.After(deadline) {
		return Result{Detail: fmt.Sprintf("no ping since %s (%s ago, %s); expected every %s + %s grace",
			actions.Stamp(base), age(now, base), what, span(c.Period), span(c.Grace))}, true
	}
	return Result{OK: true, Detail: "on time"}, false
}

// Ping is what a job reports to its heartbeat.
type Ping struct {
	// Kind is "" for a success, "start", or "fail".
	Kind string
	// ExitCode, when Kind is "", is the job's exit code: non-zero fails.
	ExitCode int
}

// Ping records a ping for the heartbeat whose token is token; false when
// no heartbeat has it.
func (x *Module) Ping(ctx context.Context, token string, p Ping) (bool, error) {
	cs, ok := x.r().tokens[sha256.Sum256([]byte(token))]
	if !ok {
		return false, nil
	}
	if err := x.ready(ctx); err != nil {
		return true, err
	}
	now := x.h.Now()
	var r Result
	switch {
	case p.Kind == "start":
		x.stats.ping(PingStart)
		cs.mu.Lock()
		cs.rec.Started = now
		cs.mu.Unlock()
		return true, x.commit.save(ctx, []*checkState{cs}, nil)
	case p.Kind == "fail":
		r = Result{Time: now, Detail: "the job reported a failure"}
	case p.ExitCode != 0:
		r = Result{Time: now, Detail: fmt.Sprintf("the job exited with code %d", p.ExitCode)}
	default:
		r = Result{OK: true, Time: now, Detail: "pinged"}
		cs.mu.Lock()
		cs.rec.LastPing, cs.rec.Started = now, time.Time{}
		cs.mu.Unlock()
	}
	if r.OK {
		x.stats.ping(PingSuccess)
	} else {
		x.stats.ping(PingFail)
	}
	x.stats.result(Heartbeat, r, false)
	return true, x.record(ctx, cs, r)
}

// Handler serves heartbeats' pings under /ping/: POST (or GET, HEAD)
// /ping/<token>, /ping/<token>/start, /ping/<token>/fail and
// /ping/<token>/<exit-code>. An unknown token is a plain 404; the token
// is never logged.
func (x *Module) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// The escaped path, so that a token holding a slash (%2F) stays
		// one segment.
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/ping/")
		rawToken, suffix, _ := strings.Cut(rest, "/")
		token, err := url.PathUnescape(rawToken)
		if !ok || err != nil || token == "" || strings.Contains(suffix, "/") {
			http.NotFound(w, r)
			return
		}
		var p Ping
		switch suffix {
		case "", "start", "fail":
			p.Kind = suffix
		default:
			code, err := strconv.Atoi(suffix)
			if err != nil || code < 0 || code > 255 {
				http.Error(w, "after the token: start, fail or an exit code from 0 to 255", http.StatusBadRequest)
				return
			}
			p.ExitCode = code
		}
		found, err := x.Ping(r.Context(), token, p)
		switch {
		case !found:
			http.NotFound(w, r)
		case err != nil:
			x.h.Log().Error("recording a ping failed", "err", err)
			http.Error(w, "could not record the ping", http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "OK")
		}
	})
}
