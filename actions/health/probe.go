package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// maxBody is how much of an answer an HTTP check reads.
const maxBody = 64 << 10

// probeHTTP GETs the check's URL on the module's shared client, whose
// connections are kept alive and reused. A redirect is not followed: it
// is the answer judged.
func (x *Module) probeHTTP(ctx context.Context, c *Check) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return Result{Detail: "bad URL: " + err.Error()}
	}
	req.Header.Set("User-Agent", "infrabot-health")
	start := time.Now()
	resp, err := x.client.Do(req)
	if err != nil {
		return Result{Detail: netError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	latency := time.Since(start)
	if err != nil {
		return Result{Detail: "reading the answer: " + netError(err)}
	}
	// The rest is drained (up to a bound) so the connection is reused.
	_, _ = io.CopyN(io.Discard, resp.Body, maxBody)
	e := c.Expect
	switch {
	case e.Status != 0 && resp.StatusCode != e.Status:
		return Result{Detail: fmt.Sprintf("%s, want %d", answered(resp), e.Status)}
	case e.Status == 0 && (resp.StatusCode < 200 || resp.StatusCode > 299):
		return Result{Detail: answered(resp)}
	case e.BodyContains != "" && !bytes.Contains(body, []byte(e.BodyContains)):
		return Result{Detail: fmt.Sprintf("the answer does not contain %q", e.BodyContains)}
	case e.MaxLatency > 0 && latency > e.MaxLatency:
		return Result{Detail: fmt.Sprintf("answered in %s, more than %s", actions.Elapsed(latency), actions.Elapsed(e.MaxLatency))}
	}
	if e.CertValidFor > 0 && resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		cert := resp.TLS.PeerCertificates[0]
		if left := cert.NotAfter.Sub(x.h.Now()); left < e.CertValidFor {
			return Result{Detail: fmt.Sprintf("the certificate expires %s (in %s), sooner than %s",
				actions.Stamp(cert.NotAfter), span(left), span(e.CertValidFor))}
		}
	}
	return Result{OK: true, Detail: answered(resp)}
}

// answered says what status resp has and, for a redirect, where to.
func answered(resp *http.Response) string {
	if loc, err := resp.Location(); err == nil && resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return fmt.Sprintf("redirected to %s (status %d)", loc, resp.StatusCode)
	}
	return fmt.Sprintf("status %d", resp.StatusCode)
}

// probeTCP opens and closes a connection.
func probeTCP(ctx context.Context, c *Check) Result {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.Address)
	if err != nil {
		return Result{Detail: netError(err)}
	}
	conn.Close()
	return Result{OK: true, Detail: "connected"}
}

// probeOpenStack passes when every declared server of the environment
// exists and is ACTIVE.
func (x *Module) probeOpenStack(ctx context.Context, c *Check) Result {
	declared, servers, err := x.opts.Fleet.Servers(ctx, c.Environment)
	if err != nil {
		return Result{Detail: actions.ErrorMessage(err)}
	}
	byName := map[string]actions.Server{}
	for _, s := range servers {
		byName[s.Name] = s
	}
	var bad []string
	for _, name := range declared {
		s, ok := byName[name]
		switch {
		case !ok:
			bad = append(bad, name+" missing")
		case s.Status != "ACTIVE":
			what := name + " " + s.Status
			if s.Fault != "" {
				what += " (" + s.Fault + ")"
			}
			bad = append(bad, what)
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		return Result{Detail: strings.Join(bad, ", ")}
	}
	return Result{OK: true, Detail: fmt.Sprintf("%d servers ACTIVE", len(declared))}
}

// netError says what went wrong reaching a target, without Go's wrapping.
func netError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}

// span writes a duration as config does: 14d, 2h, 1h30m, 90s.
func span(d time.Duration) string {
	switch {
	case d < 0:
		return "the past"
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd", d/(24*time.Hour)) + span(d%(24*time.Hour))
	case d >= time.Hour && d%time.Hour >= time.Minute:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.Truncate(time.Second).String()
}
