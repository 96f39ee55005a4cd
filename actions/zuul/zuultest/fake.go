// Package zuultest is a fake Zuul for tests: an HTTP server on loopback
// serving /api/tenant/<tenant>/builds the way Zuul does — its filters as
// repeated parameters, complete, limit and skip, by id newest first (the
// order builds started, not the order they ended) — in the newer (nested
// "ref") or older (flat) JSON shape, with faults on demand.
package zuultest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Shape is which JSON shape of a build the fake serves.
type Shape int

// Shapes.
const (
	// Nested is newer Zuul: project, branch and ref under "ref".
	Nested Shape = iota
	// Flat is older Zuul: project, branch and ref (a string) at the top.
	Flat
)

// Build is a build the fake knows.
type Build struct {
	UUID     string
	Job      string
	Pipeline string
	Project  string
	Branch   string
	// Result is "" while the build runs (served as null).
	Result string
	Start  time.Time
	End    time.Time // zero while running
	LogURL string    // "" is served as null
	// Retried marks an attempt Zuul retried (final: false).
	Retried bool
}

// Server is the fake Zuul.
type Server struct {
	*httptest.Server
	Tenant string
	Shape  Shape

	mu       sync.Mutex
	builds   []Build // oldest first
	fault    int     // HTTP status to answer with instead, 0 for none
	garbage  bool
	requests []string // query strings received
}

// New starts a fake Zuul with one tenant; it is closed by Close.
func New(tenant string, shape Shape) *Server {
	s := &Server{Tenant: tenant, Shape: shape}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Add records builds, in the order they started.
func (s *Server) Add(b ...Build) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.builds = append(s.builds, b...)
}

// Finish ends the running build uuid with result at end; it keeps its
// place in the listing, which is by id.
func (s *Server) Finish(uuid, result string, end time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.builds {
		if s.builds[i].UUID == uuid {
			s.builds[i].Result, s.builds[i].End = result, end
		}
	}
}

// Fail makes every answer the HTTP status code (0 to stop).
func (s *Server) Fail(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = code
}

// Garbage makes every answer a 200 that is not Zuul's JSON (false to
// stop).
func (s *Server) Garbage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.garbage = on
}

// Requests returns the query strings of the builds requests received.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

const timeLayout = "2006-01-02T15:04:05" // UTC without a zone, as Zuul writes

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path != "/api/tenant/"+s.Tenant+"/builds" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"description": "Not Found", "code": 404}`))
		return
	}
	s.requests = append(s.requests, r.URL.RawQuery)
	if s.fault != 0 {
		http.Error(w, "<html><body><h1>"+http.StatusText(s.fault)+"</h1></body></html>", s.fault)
		return
	}
	if s.garbage {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>Zuul is starting up</body></html>"))
		return
	}
	q := r.URL.Query()
	limit, skip := 50, 0
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	if v := q.Get("skip"); v != "" {
		skip, _ = strconv.Atoi(v)
	}
	complete := q.Get("complete")
	var out []any
	for i := len(s.builds) - 1; i >= 0; i-- { // by id, newest first
		b := s.builds[i]
		if !match(q["pipeline"], b.Pipeline) || !match(q["project"], b.Project) || !match(q["branch"], b.Branch) || !match(q["job_name"], b.Job) {
			continue
		}
		if complete == "true" && b.Result == "" || complete == "false" && b.Result != "" {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, s.render(i+1, b))
	}
	if out == nil {
		out = []any{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// match is Zuul's filter: any of the values, * as a wildcard.
func match(values []string, v string) bool {
	if len(values) == 0 {
		return true
	}
	for _, want := range values {
		if want == v || strings.Contains(want, "*") && wildcard(want, v) {
			return true
		}
	}
	return false
}

func wildcard(pattern, v string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(v, parts[0]) {
		return false
	}
	v = v[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(v, p)
		if i < 0 {
			return false
		}
		v = v[i+len(p):]
	}
	return strings.HasSuffix(v, parts[len(parts)-1])
}

func (s *Server) render(id int, b Build) map[string]any {
	null := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	end, duration := any(nil), any(nil)
	if !b.End.IsZero() {
		end = b.End.UTC().Format(timeLayout)
		duration = b.End.Sub(b.Start).Seconds()
	}
	ref := "refs/heads/" + b.Branch
	m := map[string]any{
		"_id": id, "uuid": b.UUID, "job_name": b.Job, "result": null(b.Result),
		"held": false, "start_time": b.Start.UTC().Format(timeLayout), "end_time": end,
		"duration": duration, "voting": true, "log_url": null(b.LogURL),
		"nodeset": "centos-9-stream", "error_detail": nil, "final": !b.Retried,
		"artifacts": []any{}, "provides": []any{}, "pipeline": b.Pipeline,
		"event_id": "e" + b.UUID, "buildset": map[string]any{"uuid": "bs" + b.UUID},
	}
	switch s.Shape {
	case Nested:
		m["ref"] = map[string]any{
			"project": b.Project, "branch": b.Branch, "change": nil, "patchset": nil,
			"ref": ref, "oldrev": nil, "newrev": nil, "ref_url": nil,
		}
		m["event_timestamp"] = b.Start.UTC().Format(timeLayout)
	case Flat:
		m["project"], m["branch"], m["ref"] = b.Project, b.Branch, ref
		m["change"], m["patchset"], m["newrev"], m["ref_url"] = nil, nil, nil, nil
		delete(m, "final") // older Zuul had no final
		if b.Retried {
			m["result"] = "RETRY" // and showed a retried attempt as such
		}
	}
	return m
}
