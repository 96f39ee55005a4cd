// Package jenkinstest is a fake Jenkins for tests: an HTTP server on
// loopback serving the JSON API of folders and jobs (job/a/job/b/api/json)
// as Jenkins does — ?tree= selects fields and ranges, lastCompletedBuild
// is null (and its own URL 404s) for a job that never completed, and
// Basic auth with a user and API token is required.
package jenkinstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Build is a build of a job; Result "" while building.
type Build struct {
	Number   int64
	Result   string
	Start    time.Time
	Duration time.Duration
}

// Server is the fake Jenkins.
type Server struct {
	*httptest.Server
	User, Token string

	mu       sync.Mutex
	jobs     map[string][]Build // full name → builds, oldest first
	folders  map[string]bool    // full names of folders
	fault    int
	requests []string
}

// New starts a fake Jenkins that accepts user and token; it is closed by
// Close.
func New(user, token string) *Server {
	s := &Server{User: user, Token: token, jobs: map[string][]Build{}, folders: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Job declares the job with its full name (folder/job), creating its
// folders, and adds builds to it.
func (s *Server) Job(name string, builds ...Build) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		s.folders[strings.Join(parts[:i], "/")] = true
	}
	s.jobs[name] = append(s.jobs[name], builds...)
}

// Remove deletes the job, and the folders it leaves empty, as deleting
// a job on Jenkins does: its URL answers 404 from then on.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, name)
	for f := range s.folders {
		empty := true
		for j := range s.jobs {
			if strings.HasPrefix(j, f+"/") {
				empty = false
			}
		}
		if empty {
			delete(s.folders, f)
		}
	}
}

// Fail makes every answer the HTTP status code (0 to stop).
func (s *Server) Fail(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = code
}

// Requests returns the path and query of every request received.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.URL.RequestURI())
	user, token, ok := r.BasicAuth()
	if !ok || user != s.User || token != s.Token {
		w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if s.fault != 0 {
		http.Error(w, "<html><body>Error</body></html>", s.fault)
		return
	}
	rest, ok := strings.CutSuffix(r.URL.Path, "/api/json")
	if !ok {
		http.NotFound(w, r)
		return
	}
	name, tail, ok := fullName(rest)
	if !ok {
		http.NotFound(w, r)
		return
	}
	var doc any
	switch {
	case tail == "lastCompletedBuild":
		b := s.lastCompleted(name)
		if b == nil {
			http.NotFound(w, r) // Jenkins' permalink of a job that never completed
			return
		}
		doc = s.build(name, *b)
	case tail != "":
		http.NotFound(w, r)
		return
	case name == "" || s.folders[name]:
		doc = s.folder(name)
	case s.has(name):
		doc = s.job(name)
	default:
		http.NotFound(w, r)
		return
	}
	if tree := r.URL.Query().Get("tree"); tree != "" {
		sel, err := parseTree(tree)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		doc = sel.apply(doc)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(doc)
}

func (s *Server) has(name string) bool { _, ok := s.jobs[name]; return ok }

// fullName reads /job/a/job/b[/permalink] into a/b and the permalink.
func fullName(path string) (name, tail string, ok bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		return "", "", true
	}
	var parts []string
	for i := 0; i < len(segs); i += 2 {
		if segs[i] != "job" {
			if i == len(segs)-1 {
				return strings.Join(parts, "/"), segs[i], true
			}
			return "", "", false
		}
		if i+1 >= len(segs) {
			return "", "", false
		}
		parts = append(parts, segs[i+1])
	}
	return strings.Join(parts, "/"), "", true
}

func (s *Server) url(name string) string {
	u := s.URL + "/"
	for _, p := range strings.Split(name, "/") {
		if p != "" {
			u += "job/" + p + "/"
		}
	}
	return u
}

func (s *Server) folder(name string) map[string]any {
	var items []string
	seen := map[string]bool{}
	add := func(full string) {
		rest := full
		if name != "" {
			var ok bool
			if rest, ok = strings.CutPrefix(full, name+"/"); !ok {
				return
			}
		}
		child := strings.Split(rest, "/")[0]
		if !seen[child] {
			seen[child] = true
			items = append(items, child)
		}
	}
	for j := range s.jobs {
		add(j)
	}
	for f := range s.folders {
		add(f)
	}
	sort.Strings(items)
	jobs := []any{}
	for _, it := range items {
		full := it
		if name != "" {
			full = name + "/" + it
		}
		if s.folders[full] {
			jobs = append(jobs, s.folder(full))
		} else {
			jobs = append(jobs, map[string]any{
				"_class": "hudson.model.FreeStyleProject", "name": it, "url": s.url(full), "color": s.color(full),
			})
		}
	}
	parts := strings.Split(name, "/")
	doc := map[string]any{
		"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": parts[len(parts)-1], "fullName": name,
		"url": s.url(name), "jobs": jobs,
	}
	if name == "" {
		doc["_class"] = "hudson.model.Hudson"
		doc["mode"] = "NORMAL"
	}
	return doc
}

func (s *Server) color(name string) string {
	b := s.lastCompleted(name)
	switch {
	case b == nil:
		return "notbuilt"
	case b.Result == "SUCCESS":
		return "blue"
	case b.Result == "UNSTABLE":
		return "yellow"
	case b.Result == "ABORTED":
		return "aborted"
	}
	return "red"
}

func (s *Server) lastCompleted(name string) *Build {
	builds := s.jobs[name]
	for i := len(builds) - 1; i >= 0; i-- {
		if builds[i].Result != "" {
			return &builds[i]
		}
	}
	return nil
}

func (s *Server) build(job string, b Build) map[string]any {
	var result any
	if b.Result != "" {
		result = b.Result
	}
	return map[string]any{
		"_class": "hudson.model.FreeStyleBuild", "number": b.Number, "id": strconv.FormatInt(b.Number, 10),
		"result": result, "building": b.Result == "", "timestamp": b.Start.UnixMilli(),
		"duration": b.Duration.Milliseconds(), "displayName": fmt.Sprintf("#%d", b.Number),
		"url": fmt.Sprintf("%s%d/", s.url(job), b.Number),
	}
}

func (s *Server) job(name string) map[string]any {
	builds := s.jobs[name]
	list := []any{}
	for i := len(builds) - 1; i >= 0; i-- { // newest first, as Jenkins lists them
		list = append(list, s.build(name, builds[i]))
	}
	var last any
	if b := s.lastCompleted(name); b != nil {
		last = s.build(name, *b)
	}
	parts := strings.Split(name, "/")
	return map[string]any{
		"_class": "hudson.model.FreeStyleProject", "name": parts[len(parts)-1], "fullName": name,
		"url": s.url(name), "color": s.color(name), "buildable": true,
		"builds": list, "lastCompletedBuild": last, "lastBuild": lastOf(list),
	}
}

func lastOf(list []any) any {
	if len(list) == 0 {
		return nil
	}
	return list[0]
}

// selection is a parsed ?tree= expression: fields, each with its own
// selection of sub-fields (nil for all) and an optional {from,to} range.
type selection map[string]*field

type field struct {
	sub      selection
	from, to int // to < 0: no range
}

// parseTree reads Jenkins' tree syntax: a,b[c,d]{0,10},e[f[g]].
func parseTree(s string) (selection, error) {
	sel, rest, err := parseFields(s)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("tree: unexpected %q", rest)
	}
	return sel, nil
}

func parseFields(s string) (selection, string, error) {
	sel := selection{}
	for {
		i := strings.IndexAny(s, ",[]{")
		name := s
		if i >= 0 {
			name = s[:i]
		}
		if name == "" {
			return nil, s, fmt.Errorf("tree: a field name is missing at %q", s)
		}
		f := &field{to: -1}
		sel[name] = f
		s = s[len(name):]
		if strings.HasPrefix(s, "[") {
			sub, rest, err := parseFields(s[1:])
			if err != nil {
				return nil, rest, err
			}
			if !strings.HasPrefix(rest, "]") {
				return nil, rest, fmt.Errorf("tree: ] missing")
			}
			f.sub, s = sub, rest[1:]
		}
		if strings.HasPrefix(s, "{") {
			end := strings.Index(s, "}")
			if end < 0 {
				return nil, s, fmt.Errorf("tree: } missing")
			}
			from, to, _ := strings.Cut(s[1:end], ",")
			f.from, _ = strconv.Atoi(from)
			f.to, _ = strconv.Atoi(to)
			s = s[end+1:]
		}
		if !strings.HasPrefix(s, ",") {
			return sel, s, nil
		}
		s = s[1:]
	}
}

// apply keeps only the selected fields of v (and "_class", which Jenkins
// always sends).
func (sel selection) apply(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		if c, ok := v["_class"]; ok {
			out["_class"] = c
		}
		for name, f := range sel {
			x, ok := v[name]
			if !ok {
				continue
			}
			if list, isList := x.([]any); isList && f.to >= 0 {
				from, to := min(f.from, len(list)), min(f.to, len(list))
				x = list[from:max(from, to)]
			}
			if f.sub != nil {
				x = f.sub.apply(x)
			}
			out[name] = x
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = sel.apply(x)
		}
		return out
	}
	return v
}
