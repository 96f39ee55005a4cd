package openstack_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/openstack"
	"github.com/infrabot/infrabot/simulator"
)

// What a person in the channel sees when OpenStack misbehaves, driven by
// the simulator's fault injection.

func ownedSpec(env, name string) actions.ServerSpec {
	return actions.ServerSpec{
		Name: env + "-" + name, Flavor: "m1.tiny", Image: simulator.ImageCirros, Networks: []string{simulator.NetworkPrivate},
		Metadata: map[string]string{actions.MetaManaged: "true", actions.MetaEnv: env},
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("a 503 on listing is retried", func(t *testing.T) {
		sim := startSim(t)
		c := newSimCloud(t, simAuth(sim))
		sim.Inject(simulator.Fault{Method: "GET", Path: "/compute/v2.1/servers", Status: http.StatusServiceUnavailable, Times: 2})
		if _, err := c.Servers(ctx, "staging"); err != nil {
			t.Fatalf("Servers after two 503s: %v, want the GET retried", err)
		}
	})

	t.Run("a listing that keeps failing is Unavailable", func(t *testing.T) {
		sim := startSim(t)
		c := newSimCloud(t, simAuth(sim))
		sim.Inject(simulator.Fault{Method: "GET", Path: "/compute/v2.1/servers", Status: http.StatusInternalServerError})
		_, err := c.Servers(ctx, "staging")
		if actions.ErrorKind(err) != actions.Unavailable || !strings.Contains(actions.ErrorMessage(err), "list servers of staging") {
			t.Fatalf("Servers: %v, want Unavailable naming what failed", err)
		}
	})

	t.Run("a 503 on create is not retried", func(t *testing.T) {
		sim := startSim(t)
		c := newSimCloud(t, simAuth(sim))
		sim.Inject(simulator.Fault{Method: "POST", Path: "/compute/v2.1/servers", Status: http.StatusServiceUnavailable, Times: 1})
		_, err := c.Create(ctx, ownedSpec("staging", "web-1"))
		if actions.ErrorKind(err) != actions.Unavailable {
			t.Fatalf("Create on 503: %v, want Unavailable", err)
		}
		if !strings.Contains(actions.ErrorMessage(err), "staging-web-1") {
			t.Errorf("message %q does not name the server", actions.ErrorMessage(err))
		}
		// had Create retried, the second attempt would have made the server
		list, err := c.Servers(ctx, "staging")
		if err != nil || len(list) != 0 {
			t.Fatalf("after a failed create: %v, %v; want no server", list, err)
		}
	})

	t.Run("a create answered 503 with Retry-After is not sent again", func(t *testing.T) {
		// A proxy in front of Nova can answer 503 with Retry-After after
		// Nova made the server: sending the create again makes two.
		sim := startSim(t)
		tr := &answer503AfterCreate{next: http.DefaultTransport}
		opts := fastPolls
		opts.SlowDownWait = time.Millisecond
		opts.HTTPClient = &http.Client{Transport: tr}
		c, err := openstack.New(ctx, simAuth(sim), opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Create(ctx, ownedSpec("staging", "web-1"))
		if n := tr.posts.Load(); n != 1 {
			t.Errorf("the create was sent %d times, want once", n)
		}
		if actions.ErrorKind(err) != actions.Unavailable ||
			!strings.Contains(actions.ErrorMessage(err), "could not confirm that server staging-web-1 was created") {
			t.Errorf("Create: %v, want Unavailable saying it could not confirm the create", err)
		}
		if list, err := c.Servers(ctx, "staging"); err != nil || len(list) != 1 {
			t.Errorf("after one create answered 503: %d servers (%v), want the 1 Nova made", len(list), err)
		}
	})

	t.Run("an answer that is not a server while waiting does not end the wait", func(t *testing.T) {
		for _, body := range []string{"<html><body>Gateway says hello</body></html>", "", `{"server": {}}`} {
			sim := startSim(t)
			s, err := newSimCloud(t, simAuth(sim)).Create(ctx, ownedSpec("staging", "web-1"))
			if err != nil {
				t.Fatal(err)
			}
			tr := &notJSONOnce{next: http.DefaultTransport, body: body, match: func(r *http.Request) bool {
				return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/servers/"+s.ID)
			}}
			opts := fastPolls
			opts.HTTPClient = &http.Client{Transport: tr}
			c, err := openstack.New(ctx, simAuth(sim), opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.WaitActive(ctx, s.ID, nil)
			if err != nil || got.Status != actions.StatusActive || !tr.done.Load() {
				t.Errorf("WaitActive after one answer %q: %s, %v; want it to go on polling to ACTIVE", body, got.Status, err)
			}
		}
	})

	t.Run("a create answered with something that is not JSON could not be confirmed", func(t *testing.T) {
		sim := startSim(t)
		tr := &notJSONOnce{next: http.DefaultTransport, body: "<html>Accepted</html>", match: func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/servers")
		}}
		opts := fastPolls
		opts.HTTPClient = &http.Client{Transport: tr}
		c, err := openstack.New(ctx, simAuth(sim), opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Create(ctx, ownedSpec("staging", "web-1"))
		if actions.ErrorKind(err) != actions.Unavailable ||
			!strings.Contains(actions.ErrorMessage(err), "could not confirm that server staging-web-1 was created") {
			t.Errorf("Create: %v, want Unavailable saying it could not confirm the create", err)
		}
	})

	t.Run("a server stuck in BUILD says so at the deadline", func(t *testing.T) {
		sim := startSim(t)
		c := newSimCloud(t, simAuth(sim))
		sim.StickInBuild("staging-slow")
		s, err := c.Create(ctx, ownedSpec("staging", "slow-1"))
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
		defer cancel()
		_, err = c.WaitActive(wctx, s.ID, nil)
		if !errors.Is(err, context.DeadlineExceeded) || actions.ErrorKind(err) != actions.Unavailable ||
			actions.ErrorMessage(err) != "server staging-slow-1 still BUILD after 1s" {
			t.Fatalf("WaitActive: %q (%v), want \"server staging-slow-1 still BUILD after 1s\"", actions.ErrorMessage(err), err)
		}
	})

	t.Run("a failed build carries Nova's fault", func(t *testing.T) {
		sim := startSim(t)
		c := newSimCloud(t, simAuth(sim))
		sim.FailBuild("staging-doomed", "Build of instance aborted: disk on fire")
		s, err := c.Create(ctx, ownedSpec("staging", "doomed-1"))
		if err != nil {
			t.Fatal(err)
		}
		var states []string
		got, err := c.WaitActive(ctx, s.ID, func(s actions.Server) { states = append(states, s.Status) })
		want := "server staging-doomed-1 went to ERROR: Build of instance aborted: disk on fire"
		if actions.ErrorMessage(err) != want || got.Status != actions.StatusError {
			t.Fatalf("WaitActive: %q, status %s; want %q", actions.ErrorMessage(err), got.Status, want)
		}
		if len(states) == 0 || states[len(states)-1] != actions.StatusError {
			t.Errorf("states seen %v, want ERROR last", states)
		}
	})

	t.Run("a slow API and a short deadline", func(t *testing.T) {
		sim := startSim(t)
		c := newSimCloud(t, simAuth(sim))
		sim.Inject(simulator.Fault{Method: "GET", Path: "/compute/v2.1/servers", Delay: 5 * time.Second})
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Servers(sctx, "staging")
		if actions.ErrorKind(err) != actions.Unavailable || time.Since(start) > 3*time.Second {
			t.Fatalf("Servers with a 200ms deadline against a 5s API: %v after %s", err, time.Since(start))
		}
	})

	t.Run("wrong password is Permission and shows no secret", func(t *testing.T) {
		sim := startSim(t)
		auth := simAuth(sim)
		auth.Password = "hunter2-wrong"
		_, err := openstack.New(ctx, auth, openstack.Options{})
		if actions.ErrorKind(err) != actions.Permission {
			t.Fatalf("New: %v, want Permission", err)
		}
		if strings.Contains(err.Error(), auth.Password) {
			t.Errorf("the error shows the password: %v", err)
		}
	})

	t.Run("a cloud that went away is Unavailable", func(t *testing.T) {
		sim := startSim(t)
		c := newSimCloud(t, simAuth(sim))
		_ = sim.Close()
		_, err := c.Servers(ctx, "staging")
		if actions.ErrorKind(err) != actions.Unavailable {
			t.Fatalf("Servers after the cloud went away: %v, want Unavailable", err)
		}
		_, err = openstack.New(ctx, simAuth(sim), openstack.Options{})
		if actions.ErrorKind(err) != actions.Unavailable {
			t.Fatalf("New against a closed cloud: %v, want Unavailable", err)
		}
	})

	t.Run("bad auth settings are Invalid", func(t *testing.T) {
		for _, auth := range []openstack.Auth{
			{},
			{CloudsYAML: "/nonexistent/clouds.yaml", Cloud: "x"},
			{CloudsYAML: "/nonexistent/clouds.yaml"},
		} {
			if _, err := openstack.New(ctx, auth, openstack.Options{}); actions.ErrorKind(err) != actions.Invalid {
				t.Errorf("New(%+v): %v, want Invalid", auth, err)
			}
		}
	})
}

// answer503AfterCreate lets every POST /servers reach the cloud (which
// makes the server) and answers the first one 503 with Retry-After, as an
// overloaded proxy in front of Nova can once the backend did the work.
type answer503AfterCreate struct {
	next  http.RoundTripper
	posts atomic.Int32
}

func (t *answer503AfterCreate) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/servers") || t.posts.Add(1) > 1 {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	h := http.Header{"Retry-After": {"0"}, "Content-Type": {"text/html"}}
	return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Header: h, Request: req,
		Body: io.NopCloser(strings.NewReader("<html><body>503 Service Unavailable</body></html>"))}, nil
}

// notJSONOnce sends every request on, and answers the first that match
// picks 200 with body in place of the cloud's answer, as a misbehaving
// proxy can.
type notJSONOnce struct {
	next  http.RoundTripper
	match func(*http.Request) bool
	body  string
	done  atomic.Bool
}

func (t *notJSONOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || !t.match(req) || !t.done.CompareAndSwap(false, true) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{"Content-Type": {"text/html"}}, Request: req,
		Body: io.NopCloser(strings.NewReader(t.body))}, nil
}
