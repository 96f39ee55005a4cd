package openstack

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// DefaultParallel is how many requests infrabot has in flight to one
// cloud at once when its config does not say.
const DefaultParallel = 20

// pace bounds the requests in flight to one cloud and waits out the
// cloud's "slow down" answers before sending again: 429 Too Many Requests
// (Nova's and the API gateways' rate limits: the request was not
// processed), whatever the method, and 503 with a Retry-After (an
// overloaded API or proxy that names when to come back) for requests that
// may be sent twice (GET, DELETE, …). Retry-After is honoured up to
// maxWait; without it the waits double from first. Any other 503 is left
// to the callers: retryGETs retries reads, and a POST answered 503 — even
// with Retry-After, from a proxy after Nova did the work — may have
// created the server all the same, so Create says it could not confirm
// the create rather than make a second server.
type pace struct {
	next    http.RoundTripper
	log     *slog.Logger
	slots   chan struct{}
	first   time.Duration
	retries int
	maxWait time.Duration
}

func newPace(next http.RoundTripper, log *slog.Logger, parallel int, first time.Duration) *pace {
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	if first <= 0 {
		first = time.Second
	}
	return &pace{next: next, log: log, slots: make(chan struct{}, parallel), first: first, retries: 5, maxWait: time.Minute}
}

func (p *pace) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	wait := p.first
	for attempt := 0; ; attempt++ {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		resp, err := p.next.RoundTrip(req)
		<-p.slots
		if err != nil || attempt >= p.retries || !p.slowDown(req, resp) {
			return resp, err
		}
		d := wait
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			d = min(time.Duration(s)*time.Second, p.maxWait)
		}
		wait = min(2*wait, p.maxWait)
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return resp, nil // cannot send the body again
			}
			b, err := req.GetBody()
			if err != nil {
				return resp, nil
			}
			req = req.Clone(ctx)
			req.Body = b
		}
		drain(resp.Body)
		// method and path only: headers carry the token
		p.log.Warn("openstack: the cloud asked to slow down; waiting before sending again",
			"method", req.Method, "path", req.URL.Path, "status", resp.StatusCode, "wait", d, "attempt", attempt+1)
		if err := actions.Sleep(ctx, d); err != nil {
			return nil, err
		}
	}
}

// slowDown says whether resp asks for req to be sent again later.
func (p *pace) slowDown(req *http.Request, resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return true
	case http.StatusServiceUnavailable:
		return resp.Header.Get("Retry-After") != "" && idempotent(req.Method)
	}
	return false
}

// idempotent says whether a request with method may be sent twice with
// the effect of once (RFC 9110, 9.2.2): not a POST, which creates.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
