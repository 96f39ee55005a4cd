// Package zuul reads Zuul's builds API for the CI jobs module: it
// implements cijobs.Source with net/http. It accepts both shapes of a
// build Zuul has served — newer Zuul nests project, branch and ref under a
// "ref" object, older Zuul has them at the top level — and takes build
// times, which Zuul writes in UTC without a zone, as UTC.
package zuul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/cijobs"
)

// Options says which Zuul to read and which builds.
type Options struct {
	// URL is Zuul's web root, e.g. https://review.rdoproject.org/zuul.
	URL    string
	Tenant string
	// Pipelines, Projects, Branches and Jobs filter the builds asked for;
	// each is sent as repeated parameters, and empty asks for all.
	Pipelines, Projects, Branches, Jobs []string
	// Limit is how many builds one request asks for (default 100).
	Limit int
	// MaxPages bounds how many requests one poll makes (default 5); a
	// poll it cuts short is logged.
	MaxPages int
	// MaxRuntime is the longest a build runs, from its start to its end
	// (default 24h). Zuul lists builds in the order they started, so a
	// poll reads on past the previous poll's newest build until a whole
	// page started longer than this before it: a build that ended since
	// can be behind many that ended earlier.
	MaxRuntime time.Duration
	// Log is where a poll cut short by MaxPages is told; slog.Default()
	// by default.
	Log *slog.Logger
	// Client is the HTTP client; one with a 30 s timeout by default.
	Client *http.Client
}

// Source is a Zuul tenant's builds. It implements cijobs.Source.
type Source struct {
	opts Options
	base *url.URL
	// cutShort is set while polls are cut short by MaxPages, so that the
	// warning is logged once, not at every poll.
	cutShort atomic.Bool
}

var _ cijobs.Source = (*Source)(nil)

// Defaults.
const (
	DefaultLimit      = 100
	DefaultMaxPages   = 5
	DefaultMaxRuntime = 24 * time.Hour
)

// New returns the source, checking the URL.
func New(opts Options) (*Source, error) {
	u, err := url.Parse(strings.TrimRight(opts.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("zuul url %q is not an http(s) URL", opts.URL)
	}
	if opts.Tenant == "" {
		return nil, errors.New("zuul needs a tenant")
	}
	if opts.Limit <= 0 {
		opts.Limit = DefaultLimit
	}
	if opts.MaxPages <= 0 {
		opts.MaxPages = DefaultMaxPages
	}
	if opts.MaxRuntime <= 0 {
		opts.MaxRuntime = DefaultMaxRuntime
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Source{opts: opts, base: u}, nil
}

// Poll asks for completed builds a page at a time, newest started first
// as Zuul lists them, until a whole page started more than MaxRuntime
// before since (or MaxPages); at the first poll (since zero) one page.
// The builds are returned in the order they ended, newest first.
func (s *Source) Poll(ctx context.Context, since time.Time) (cijobs.Report, error) {
	var r cijobs.Report
	seen := map[string]bool{}
	cutoff := since.Add(-s.opts.MaxRuntime)
	for page := 0; ; page++ {
		builds, n, started, err := s.page(ctx, page*s.opts.Limit)
		if err != nil {
			return cijobs.Report{}, err
		}
		for _, b := range builds {
			// A build recorded or completed between two requests
			// moves the later pages by one: a page repeats a build.
			if !seen[b.ID] {
				seen[b.ID] = true
				r.Builds = append(r.Builds, b)
			}
		}
		if n < s.opts.Limit || since.IsZero() || !started.IsZero() && started.Before(cutoff) {
			if s.cutShort.Swap(false) {
				s.opts.Log.Info("Zuul polls reach back far enough again", "zuul", s.base.Host, "tenant", s.opts.Tenant)
			}
			break
		}
		if page+1 == s.opts.MaxPages {
			if !s.cutShort.Swap(true) {
				s.opts.Log.Warn("a Zuul poll was cut short: builds that ended since the previous poll may be missed; raise the limit (said once until polls reach back far enough again)",
					"zuul", s.base.Host, "tenant", s.opts.Tenant, "pages", s.opts.MaxPages, "limit", s.opts.Limit,
					"since", since, "back_to", started)
			}
			break
		}
	}
	slices.SortStableFunc(r.Builds, func(a, b cijobs.Build) int { return end(b).Compare(end(a)) })
	return r, nil
}

// end is when a build ended, or started when Zuul did not say.
func end(b cijobs.Build) time.Time {
	if b.Ended.IsZero() {
		return b.Started
	}
	return b.Ended
}

// page reads one page of builds from skip on; it returns the builds that
// count, how many the page held, and when the last of them to start
// started (zero when one of them says neither when it started nor when
// it ended).
func (s *Source) page(ctx context.Context, skip int) ([]cijobs.Build, int, time.Time, error) {
	q := url.Values{}
	for _, f := range []struct {
		name   string
		values []string
	}{{"pipeline", s.opts.Pipelines}, {"project", s.opts.Projects}, {"branch", s.opts.Branches}, {"job_name", s.opts.Jobs}} {
		for _, v := range f.values {
			q.Add(f.name, v)
		}
	}
	q.Set("complete", "true")
	q.Set("limit", strconv.Itoa(s.opts.Limit))
	if skip > 0 {
		q.Set("skip", strconv.Itoa(skip))
	}
	u := s.base.JoinPath("api", "tenant", s.opts.Tenant, "builds")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return nil, 0, time.Time{}, &actions.Error{Kind: actions.Unavailable, Message: "cannot reach Zuul at " + s.base.Host, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, 0, time.Time{}, &actions.Error{Kind: actions.Unavailable, Message: "Zuul at " + s.base.Host + " broke off its answer", Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, 0, time.Time{}, actions.Errorf(actions.Unavailable, "Zuul at %s has no tenant %q (404)", s.base.Host, s.opts.Tenant)
	case resp.StatusCode != http.StatusOK:
		return nil, 0, time.Time{}, actions.Errorf(actions.Unavailable, "Zuul at %s answered %s", s.base.Host, resp.Status)
	}
	raw, err := Decode(body)
	if err != nil {
		return nil, 0, time.Time{}, &actions.Error{Kind: actions.Unavailable, Message: "Zuul at " + s.base.Host + " answered with something that is not a list of builds", Err: err}
	}
	var out []cijobs.Build
	var started time.Time
	unknown := false
	for _, b := range raw {
		at := b.StartTime
		if at == nil {
			at = b.EndTime // it never ran: it started no later than it ended
		}
		if at == nil {
			unknown = true
		} else if t, _ := ParseTime(*at); t.After(started) {
			started = t
		}
		if b.Result == nil || (b.Final != nil && !*b.Final) || *b.Result == "RETRY" {
			continue // running, or an attempt Zuul retried (older Zuul has no final)
		}
		out = append(out, s.build(b))
	}
	if unknown {
		started = time.Time{}
	}
	return out, len(raw), started, nil
}

// Build is one build as Zuul's API serves it, in either shape.
type Build struct {
	UUID      string  `json:"uuid"`
	JobName   string  `json:"job_name"`
	Result    *string `json:"result"` // null while running
	StartTime *string `json:"start_time"`
	EndTime   *string `json:"end_time"`
	LogURL    *string `json:"log_url"`
	Pipeline  string  `json:"pipeline"`
	// Final is false for an attempt Zuul retried; older Zuul omits it.
	Final *bool `json:"final"`
	// Project and Branch are at the top level in older Zuul; newer Zuul
	// nests them in Ref.
	Project string `json:"project"`
	Branch  string `json:"branch"`
	Ref     Ref    `json:"ref"`
}

// Ref is newer Zuul's "ref" object; older Zuul's "ref" is a string
// (refs/heads/main), kept in Name.
type Ref struct {
	Project string `json:"project"`
	Branch  string `json:"branch"`
	Name    string `json:"ref"`
}

// UnmarshalJSON reads either shape of "ref".
func (r *Ref) UnmarshalJSON(data []byte) error {
	switch {
	case len(data) > 0 && data[0] == '"':
		return json.Unmarshal(data, &r.Name)
	case string(data) == "null":
		return nil
	}
	type plain Ref
	return json.Unmarshal(data, (*plain)(r))
}

// Decode reads a list of builds; every build needs a uuid and a job name.
func Decode(data []byte) ([]Build, error) {
	var builds []Build
	if err := json.Unmarshal(data, &builds); err != nil {
		return nil, err
	}
	for i, b := range builds {
		if b.UUID == "" || b.JobName == "" {
			return nil, fmt.Errorf("build %d has no uuid or job_name", i)
		}
		for _, t := range []*string{b.StartTime, b.EndTime} {
			if t != nil {
				if _, err := ParseTime(*t); err != nil {
					return nil, fmt.Errorf("build %s: %w", b.UUID, err)
				}
			}
		}
	}
	return builds, nil
}

// ParseTime reads a time as Zuul writes it: UTC without a zone
// (2024-02-13T23:17:28), with or without fractional seconds; a time
// with a zone is read as it says.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time", s)
}

// Outcome says what a Zuul result means for the job: SUCCESS passes;
// SKIPPED, ABORTED and CANCELED say nothing; every other result (FAILURE,
// POST_FAILURE, RETRY_LIMIT, TIMED_OUT, NODE_FAILURE, …, and any result
// Zuul adds later) is a failure.
func Outcome(result string) cijobs.Outcome {
	switch result {
	case "SUCCESS":
		return cijobs.Pass
	case "SKIPPED", "ABORTED", "CANCELED":
		return cijobs.NoSignal
	}
	return cijobs.Fail
}

func (s *Source) build(b Build) cijobs.Build {
	project, branch := b.Project, b.Branch
	if b.Ref.Project != "" {
		project, branch = b.Ref.Project, b.Ref.Branch
	}
	out := cijobs.Build{
		Job:     cijobs.JobID{Name: b.JobName, Pipeline: b.Pipeline, Project: project, Branch: branch},
		ID:      b.UUID,
		Result:  *b.Result,
		Outcome: Outcome(*b.Result),
	}
	if b.StartTime != nil {
		out.Started, _ = ParseTime(*b.StartTime)
	}
	if b.EndTime != nil {
		out.Ended, _ = ParseTime(*b.EndTime)
	}
	if b.LogURL != nil && *b.LogURL != "" {
		out.URL = *b.LogURL
	} else {
		out.URL = s.base.JoinPath("t", s.opts.Tenant, "build", b.UUID).String()
	}
	return out
}
