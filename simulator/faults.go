package simulator

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is an injected failure or slowdown. Requests whose method and path
// match are delayed by Delay and then, if Status is set, answered with that
// status and a body shaped like the real service's error.
type Fault struct {
	Method string        // HTTP method to match; "" matches any
	Path   string        // prefix of the URL path, e.g. "/compute/v2.1/servers"
	Status int           // status to answer with; 0 answers normally after Delay
	Delay  time.Duration // real time to wait first; the caller giving up ends the wait
	Times  int           // how many requests it applies to; 0 means until cleared
	// RetryAfter, with Status, is sent as the Retry-After header (seconds),
	// as rate limiters and overloaded APIs say when to come back.
	RetryAfter int
}

func (f Fault) matches(r *http.Request) bool {
	return (f.Method == "" || strings.EqualFold(f.Method, r.Method)) && strings.HasPrefix(r.URL.Path, f.Path)
}

// controls are the test hooks in force.
type controls struct {
	faults []*activeFault
	stick  []string
	fail   []failRule
}

type activeFault struct {
	Fault
	left int // requests still to affect; -1 is unlimited
}

type failRule struct{ prefix, message string }

// Inject adds a fault. Faults apply in the order injected; a request is
// affected by the first one that matches.
func (s *Simulator) Inject(f Fault) {
	left := f.Times
	if left <= 0 {
		left = -1
	}
	s.mu.Lock()
	s.controls.faults = append(s.controls.faults, &activeFault{Fault: f, left: left})
	s.mu.Unlock()
	s.log.Info("fault injected", "method", f.Method, "path", f.Path, "status", f.Status, "delay", f.Delay, "times", f.Times)
}

// ClearFaults removes every injected fault and every StickInBuild and
// FailBuild rule. Servers already created keep the fate they were given.
// The instance quota is left as it is.
func (s *Simulator) ClearFaults() {
	s.mu.Lock()
	s.controls = controls{}
	s.mu.Unlock()
	s.log.Info("faults cleared")
}

// StickInBuild makes servers created from now on whose name starts with
// prefix stay in BUILD (task_state "spawning") forever.
func (s *Simulator) StickInBuild(prefix string) {
	s.mu.Lock()
	s.controls.stick = append(s.controls.stick, prefix)
	s.mu.Unlock()
}

// FailBuild makes servers created from now on whose name starts with
// prefix go to ERROR at the end of their build, with a fault (code 500)
// carrying msg.
func (s *Simulator) FailBuild(prefix, msg string) {
	s.mu.Lock()
	s.controls.fail = append(s.controls.fail, failRule{prefix: prefix, message: msg})
	s.mu.Unlock()
}

// SetInstanceQuota sets the project's instances quota, as
// PUT /os-quota-sets/{project_id} does; a negative n means unlimited.
func (s *Simulator) SetInstanceQuota(n int) {
	if n < 0 {
		n = -1
	}
	s.mu.Lock()
	s.instanceQuota = n
	s.mu.Unlock()
	s.log.Info("instance quota set", "instances", n)
}

// fateFor decides how the build of a new server named name will end. A
// flavor no host can fit fails scheduling whatever the rules say; then
// FailBuild rules come before StickInBuild ones.
func (c *controls) fateFor(name string, f *flavor) (fate, string) {
	if !f.fits() {
		return fateNoValidHost, noValidHostMessage
	}
	for _, r := range c.fail {
		if strings.HasPrefix(name, r.prefix) {
			return fateFailed, r.message
		}
	}
	for _, p := range c.stick {
		if strings.HasPrefix(name, p) {
			return fateStuck, ""
		}
	}
	return fateActive, ""
}

// takeFault finds the fault for r, if any, and counts the use.
func (s *Simulator) takeFault(r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.controls.faults {
		if !f.matches(r) {
			continue
		}
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				s.controls.faults = append(s.controls.faults[:i:i], s.controls.faults[i+1:]...)
			}
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// applyFault delays and fails r as an injected fault says. It returns true
// when the request should go on to be served normally.
func (s *Simulator) applyFault(w http.ResponseWriter, r *http.Request, svc service) bool {
	f, ok := s.takeFault(r)
	if !ok {
		return true
	}
	if f.Delay > 0 {
		readAhead(r)
	}
	if !sleep(r.Context(), f.Delay) {
		s.log.Debug("caller gave up during injected delay", "method", r.Method, "path", r.URL.Path)
		return false
	}
	if f.Status == 0 {
		return true
	}
	s.log.Info("injected fault", "method", r.Method, "path", r.URL.Path, "status", f.Status)
	if f.Status == http.StatusUnauthorized {
		writeUnauthorized(w, r)
		return false
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	writeError(w, svc, &apiError{status: f.Status, msg: explanation(f.Status)})
	return false
}

// readAhead reads r's body (up to maxBody) before an injected delay and
// hands it on to the handler. net/http notices a caller hanging up only
// once the body has been read, so without this a POST held by a delay
// would be held for all of it after the caller had gone.
func readAhead(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), r.Body))
}
