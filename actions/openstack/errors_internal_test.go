package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/infrabot/infrabot/actions"
)

func httpErr(status int, body string) error {
	return gophercloud.ErrUnexpectedResponseCode{Method: "POST", URL: "http://nova/servers", Actual: status, Body: []byte(body)}
}

func TestAPIErrorKindsAndMessages(t *testing.T) {
	for _, c := range []struct {
		name     string
		err      error
		kind     actions.Kind
		contains string
	}{
		{"quota as 403 (Nova today)",
			httpErr(403, `{"forbidden": {"code": 403, "message": "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"}}`),
			actions.Unavailable, "quota exceeded: Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"},
		{"quota as 413 (older Nova)",
			httpErr(413, `{"overLimit": {"code": 413, "message": "Quota exceeded for cores: Requested 2, but already used 20 of 20 cores"}}`),
			actions.Unavailable, "quota exceeded: Quota exceeded for cores"},
		{"other 403", httpErr(403, `{"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:servers:create to be performed."}}`),
			actions.Permission, "OpenStack refused to create server x: Policy doesn't allow"},
		{"401", httpErr(401, `{"error": {"code": 401, "message": "The request you have made requires authentication."}}`),
			actions.Permission, "no longer accepts"},
		{"404", httpErr(404, `{"itemNotFound": {"code": 404, "message": "Instance abc could not be found."}}`),
			actions.NotFound, "not found"},
		{"409", httpErr(409, `{"conflictingRequest": {"code": 409, "message": "Cannot 'delete' instance while it is in task_state locked"}}`),
			actions.Conflict, "task_state locked"},
		{"400 from Neutron", httpErr(400, `{"NeutronError": {"type": "BadRequest", "message": "Invalid input", "detail": ""}}`),
			actions.Invalid, "OpenStack rejected create server x: Invalid input"},
		{"429", httpErr(429, ``), actions.Unavailable, "rate limiting"},
		{"503 with HTML", httpErr(503, `<html>Service Unavailable</html>`), actions.Unavailable, "(HTTP 503)"},
		{"200 with HTML", notJSON("<html>Gateway says hello</html>"), actions.Unavailable,
			"OpenStack answered the request to create server x with something that is not JSON"},
		{"200 with an empty body", notJSON(""), actions.Unavailable, "with something that is not JSON"},
		{"200 with JSON of another shape", notJSON(`{"server": "x"}`), actions.Unavailable, "with JSON of an unexpected shape"},
		{"network", &url.Error{Op: "Post", URL: "http://nova", Err: errors.New("connection refused")},
			actions.Unavailable, "cannot reach OpenStack to create server x"},
		{"canceled", fmt.Errorf("wrapped: %w", context.Canceled), actions.Unavailable, "canceled"},
		{"deadline", context.DeadlineExceeded, actions.Unavailable, "timed out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := apiError("create server x", c.err)
			if actions.ErrorKind(err) != c.kind || !strings.Contains(actions.ErrorMessage(err), c.contains) {
				t.Errorf("kind %s, message %q; want %s containing %q", actions.ErrorKind(err), actions.ErrorMessage(err), c.kind, c.contains)
			}
			if !errors.Is(err, c.err) && !errors.As(err, new(gophercloud.ErrUnexpectedResponseCode)) {
				t.Errorf("the cause is lost: %v", err)
			}
		})
	}
}

// notJSON is the error gophercloud returns for a 2xx answer with body,
// which it decodes as JSON into a server.
func notJSON(body string) error {
	var v struct{ Server struct{ ID string } }
	err := json.NewDecoder(strings.NewReader(body)).Decode(&v)
	if err == nil {
		panic("notJSON: " + body + " decodes")
	}
	return err
}

func TestFaultMessageIsOneShortLine(t *testing.T) {
	long := strings.Repeat("word ", 200)
	got := faultMessage([]byte(`{"badRequest": {"code": 400, "message": "line one\n  line two ` + long + `"}}`))
	if strings.Contains(got, "\n") || len(got) > 310 || !strings.HasPrefix(got, "line one line two") {
		t.Errorf("faultMessage = %q", got)
	}
	if got := faultMessage([]byte("not json")); got != "" {
		t.Errorf("faultMessage of garbage = %q, want empty", got)
	}
}

// retryGETs retries reads on 5xx, and never anything else.
func TestRetryTransport(t *testing.T) {
	var calls atomic.Int32
	var failFirst atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if failFirst.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	rt := &retryGETs{next: http.DefaultTransport, log: slog.New(slog.DiscardHandler),
		waits: []time.Duration{time.Millisecond, time.Millisecond}}
	client := &http.Client{Transport: rt}

	for _, c := range []struct {
		name       string
		method     string
		path       string
		fail       int32
		wantCalls  int32
		wantStatus int
	}{
		{"GET recovers after two 503s", "GET", "/", 2, 3, 200},
		{"GET gives up after the retries", "GET", "/", 5, 3, 503},
		{"GET 404 is an answer, not a failure", "GET", "/missing", 0, 1, 404},
		{"POST is never retried", "POST", "/", 1, 1, 503},
		{"DELETE is not retried either", "DELETE", "/", 1, 1, 503},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls.Store(0)
			failFirst.Store(c.fail)
			req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if calls.Load() != c.wantCalls || resp.StatusCode != c.wantStatus {
				t.Errorf("%d calls, status %d; want %d calls, status %d", calls.Load(), resp.StatusCode, c.wantCalls, c.wantStatus)
			}
		})
	}
}

// pace sends again what the cloud did not process: a 429 whatever the
// method, a 503 with Retry-After only for requests that may be sent twice.
// A POST answered 503 may have been processed (by Nova, behind the proxy
// that answered), so it is left to its caller.
func TestPaceSendsAgainOnlyWhatMaySafelyBeSentTwice(t *testing.T) {
	var calls atomic.Int32
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(int(status.Load()))
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	client := &http.Client{Transport: newPace(http.DefaultTransport, slog.New(slog.DiscardHandler), 2, time.Millisecond)}

	for _, c := range []struct {
		method     string
		status     int
		wantCalls  int32
		wantStatus int
	}{
		{"GET", 429, 2, 200},
		{"GET", 503, 2, 200},
		{"DELETE", 429, 2, 200},
		{"DELETE", 503, 2, 200},
		{"POST", 429, 2, 200},
		{"POST", 503, 1, 503},
	} {
		t.Run(fmt.Sprintf("%s answered %d", c.method, c.status), func(t *testing.T) {
			calls.Store(0)
			status.Store(int32(c.status))
			req, _ := http.NewRequest(c.method, srv.URL, strings.NewReader("{}"))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if calls.Load() != c.wantCalls || resp.StatusCode != c.wantStatus {
				t.Errorf("%d calls, status %d; want %d calls, status %d", calls.Load(), resp.StatusCode, c.wantCalls, c.wantStatus)
			}
		})
	}
}
