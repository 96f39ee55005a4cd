// Package jenkins reads Jenkins' JSON API for the CI jobs module: it
// implements cijobs.Source with net/http. Jobs are named by their full
// name (folder/job); a glob in a name expands over the folder's listing.
// Requests use ?tree= to fetch only what is needed, and Basic auth with a
// user and an API token.
package jenkins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/cijobs"
)

// Options says which Jenkins to read and which jobs.
type Options struct {
	// URL is Jenkins' root, e.g. https://jenkins.example.org.
	URL string
	// User and Token authenticate with Basic auth (an API token, not a
	// password); both empty for an anonymous Jenkins.
	User, Token string
	// Jobs are full job names (folder/job), each segment possibly a glob
	// (promote-*), expanded over the folder's listing at every poll.
	Jobs []string
	// Builds is how many recent builds of a job one poll reads, so that
	// builds that completed between polls are not missed (default 10).
	Builds int
	// Client is the HTTP client; one with a 30 s timeout by default.
	Client *http.Client
}

// Source is a Jenkins' jobs. It implements cijobs.Source.
type Source struct {
	opts Options
	base *url.URL
}

var _ cijobs.Source = (*Source)(nil)

// DefaultBuilds is how many builds of a job a poll reads by default.
const DefaultBuilds = 10

// New returns the source, checking the URL.
func New(opts Options) (*Source, error) {
	u, err := url.Parse(strings.TrimRight(opts.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("jenkins url %q is not an http(s) URL without credentials", opts.URL)
	}
	if len(opts.Jobs) == 0 {
		return nil, fmt.Errorf("jenkins needs jobs to watch")
	}
	if opts.Builds <= 0 {
		opts.Builds = DefaultBuilds
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Source{opts: opts, base: u}, nil
}

// Poll expands the job globs and reads each job's recent completed
// builds. A job that never completed has no builds (lastCompletedBuild is
// null) but is reported among the jobs. A job named outright that Jenkins
// has not (404) is reported missing, and one a glob listed that is gone
// when read (deleted meanwhile) is left out; either way the other jobs
// are read. Only a failure to list the root or a folder named outright,
// refused credentials or an unreachable Jenkins fail the poll.
func (s *Source) Poll(ctx context.Context, since time.Time) (cijobs.Report, error) {
	var r cijobs.Report
	seen := map[string]bool{}
	for _, pattern := range s.opts.Jobs {
		names, err := s.expand(ctx, pattern)
		if err != nil {
			return cijobs.Report{}, err
		}
		for _, name := range names {
			if seen[name] {
				continue
			}
			seen[name] = true
			builds, err := s.builds(ctx, name)
			if errors.Is(err, errNotFound) {
				if !strings.ContainsAny(pattern, "*?") {
					r.Missing = append(r.Missing, cijobs.JobID{Name: name})
				}
				continue
			}
			if err != nil {
				return cijobs.Report{}, err
			}
			r.Jobs = append(r.Jobs, cijobs.JobID{Name: name})
			r.Builds = append(r.Builds, builds...)
		}
	}
	sort.SliceStable(r.Builds, func(i, j int) bool { return r.Builds[i].Ended.After(r.Builds[j].Ended) })
	return r, nil
}

// jobPath is the URL path of a job by full name: a/b → job/a/job/b.
func jobPath(name string) []string {
	var out []string
	for _, seg := range strings.Split(name, "/") {
		if seg != "" {
			out = append(out, "job", seg)
		}
	}
	return out
}

// expand returns the jobs a pattern names, sorted: a segment with a glob
// matches the items of the folder above it (folders for inner segments,
// jobs for the last). A folder a glob listed that is gone when listed in
// turn (deleted meanwhile) holds nothing.
func (s *Source) expand(ctx context.Context, pattern string) ([]string, error) {
	if !strings.ContainsAny(pattern, "*?") {
		return []string{strings.Trim(pattern, "/")}, nil
	}
	segs := strings.Split(strings.Trim(pattern, "/"), "/")
	prefixes := []string{""}
	listed := false // the prefixes came from a listing
	for i, seg := range segs {
		last := i == len(segs)-1
		var next []string
		for _, p := range prefixes {
			if !strings.ContainsAny(seg, "*?") {
				next = append(next, join(p, seg))
				continue
			}
			items, err := s.list(ctx, p)
			if listed && errors.Is(err, errNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				if it.folder != last && cijobs.Glob(seg, it.name) {
					next = append(next, join(p, it.name))
				}
			}
		}
		prefixes = next
		listed = listed || strings.ContainsAny(seg, "*?")
	}
	sort.Strings(prefixes)
	return prefixes, nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}

type item struct {
	name   string
	folder bool
}

// list returns the items of a folder ("" for the root). An item whose
// listing has a jobs field is a folder (a folder, a multibranch project,
// an organisation); the rest are jobs.
func (s *Source) list(ctx context.Context, folder string) ([]item, error) {
	var resp struct {
		Jobs []struct {
			Name string            `json:"name"`
			Jobs *[]map[string]any `json:"jobs"`
		} `json:"jobs"`
	}
	what := "the folder " + folder
	if folder == "" {
		what = "the list of jobs"
	}
	if err := s.get(ctx, jobPath(folder), "jobs[name,jobs[name]]", what, &resp); err != nil {
		return nil, err
	}
	out := make([]item, 0, len(resp.Jobs))
	for _, j := range resp.Jobs {
		out = append(out, item{name: j.Name, folder: j.Jobs != nil})
	}
	return out, nil
}

// Build is a build as Jenkins' JSON API serves it.
type Build struct {
	Number    int64   `json:"number"`
	Result    *string `json:"result"` // null while building
	Timestamp int64   `json:"timestamp"`
	Duration  int64   `json:"duration"`
	URL       string  `json:"url"`
}

// Job is the part of a job's JSON a poll reads.
type Job struct {
	LastCompletedBuild *Build  `json:"lastCompletedBuild"`
	Builds             []Build `json:"builds"`
}

// builds returns the job's completed builds up to its last completed one.
func (s *Source) builds(ctx context.Context, name string) ([]cijobs.Build, error) {
	const fields = "number,result,timestamp,duration,url"
	var job Job
	tree := fmt.Sprintf("lastCompletedBuild[%s],builds[%s]{0,%d}", fields, fields, s.opts.Builds)
	if err := s.get(ctx, jobPath(name), tree, "the job "+name, &job); err != nil {
		return nil, err
	}
	if job.LastCompletedBuild == nil {
		return nil, nil
	}
	var out []cijobs.Build
	for _, b := range job.Builds {
		if b.Result == nil || b.Number > job.LastCompletedBuild.Number {
			continue // still building
		}
		start := time.UnixMilli(b.Timestamp).UTC()
		logs := ""
		if b.URL != "" {
			logs = strings.TrimRight(b.URL, "/") + "/console"
		}
		out = append(out, cijobs.Build{
			Job: cijobs.JobID{Name: name}, ID: fmt.Sprint(b.Number),
			Result: *b.Result, Outcome: Outcome(*b.Result),
			Started: start, Ended: start.Add(time.Duration(b.Duration) * time.Millisecond),
			URL: logs,
		})
	}
	return out, nil
}

// Outcome says what a Jenkins result means for the job: SUCCESS passes;
// UNSTABLE (tests failed) and FAILURE fail; NOT_BUILT and ABORTED say
// nothing. Any other result is a failure.
func Outcome(result string) cijobs.Outcome {
	switch result {
	case "SUCCESS":
		return cijobs.Pass
	case "NOT_BUILT", "ABORTED":
		return cijobs.NoSignal
	}
	return cijobs.Fail
}

// errNotFound is in the chain of get's error for a 404.
var errNotFound = errors.New("not found")

// get reads path/api/json?tree=tree into v.
func (s *Source) get(ctx context.Context, path []string, tree, what string, v any) error {
	u := s.base.JoinPath(append(path, "api", "json")...)
	u.RawQuery = url.Values{"tree": {tree}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if s.opts.User != "" || s.opts.Token != "" {
		req.SetBasicAuth(s.opts.User, s.opts.Token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return &actions.Error{Kind: actions.Unavailable, Message: "cannot reach Jenkins at " + s.base.Host, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &actions.Error{Kind: actions.Unavailable, Message: "Jenkins at " + s.base.Host + " broke off its answer", Err: err}
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return &actions.Error{Kind: actions.Unavailable, Message: fmt.Sprintf("Jenkins at %s has no %s (404)", s.base.Host, strings.TrimPrefix(what, "the ")), Err: errNotFound}
	case http.StatusUnauthorized, http.StatusForbidden:
		return actions.Errorf(actions.Unavailable, "Jenkins at %s refused infrabot's credentials for %s (%s)", s.base.Host, what, resp.Status)
	default:
		return actions.Errorf(actions.Unavailable, "Jenkins at %s answered %s for %s", s.base.Host, resp.Status, what)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &actions.Error{Kind: actions.Unavailable, Message: "Jenkins at " + s.base.Host + " answered with something that is not JSON for " + what, Err: err}
	}
	return nil
}
