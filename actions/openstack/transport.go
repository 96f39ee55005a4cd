package openstack

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/infrabot/infrabot/actions"
)

// retryGETs retries idempotent reads (GET, HEAD) that fail with a 5xx or a
// network error, a couple of times with a short backoff. Nothing else is
// retried here: a POST that creates a server may have succeeded even when
// its response was lost, and retrying it could create the server twice.
type retryGETs struct {
	next  http.RoundTripper
	log   *slog.Logger
	waits []time.Duration // one entry per retry
}

func (t *retryGETs) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return t.next.RoundTrip(req)
	}
	for attempt := 0; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		retryable := (err != nil && req.Context().Err() == nil) ||
			(err == nil && resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented)
		if !retryable || attempt >= len(t.waits) {
			return resp, err
		}
		why := "network error"
		if err == nil {
			why = resp.Status
			drain(resp.Body)
		}
		// URL paths and statuses only: no headers (they carry the token)
		t.log.WarnContext(req.Context(), "openstack: retrying GET", "path", req.URL.Path, "reason", why, "attempt", attempt+1)
		if err := actions.Sleep(req.Context(), t.waits[attempt]); err != nil {
			return nil, err
		}
	}
}

// drain discards what is left of a response body so the connection can be
// reused, then closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}
