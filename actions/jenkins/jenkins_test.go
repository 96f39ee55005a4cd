package jenkins_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/cijobs"
	"github.com/infrabot/infrabot/actions/jenkins"
	"github.com/infrabot/infrabot/actions/jenkins/jenkinstest"
)

var t0 = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

func fake(t *testing.T) *jenkinstest.Server {
	t.Helper()
	s := jenkinstest.New("infrabot", "api-token-1234")
	t.Cleanup(s.Close)
	s.Job("promote-master",
		jenkinstest.Build{Number: 1, Result: "SUCCESS", Start: t0, Duration: 10 * time.Minute},
		jenkinstest.Build{Number: 2, Result: "UNSTABLE", Start: t0.Add(time.Hour), Duration: 10 * time.Minute},
		jenkinstest.Build{Number: 3, Start: t0.Add(2 * time.Hour)}) // building
	s.Job("promote-wallaby") // never built
	s.Job("unrelated", jenkinstest.Build{Number: 1, Result: "FAILURE", Start: t0})
	s.Job("tripleo/periodic/promote-train", jenkinstest.Build{Number: 7, Result: "ABORTED", Start: t0, Duration: time.Minute})
	s.Job("tripleo/periodic/promote-zed", jenkinstest.Build{Number: 9, Result: "FAILURE", Start: t0, Duration: time.Minute})
	s.Job("tripleo/other/promote-zed", jenkinstest.Build{Number: 1, Result: "SUCCESS", Start: t0, Duration: time.Minute})
	return s
}

func poll(t *testing.T, s *jenkinstest.Server, jobs ...string) (cijobs.Report, error) {
	t.Helper()
	src, err := jenkins.New(jenkins.Options{URL: s.URL, User: "infrabot", Token: "api-token-1234", Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	return src.Poll(context.Background(), time.Time{})
}

func TestGlobsExpandOverFolders(t *testing.T) {
	t.Parallel()
	s := fake(t)
	r, err := poll(t, s, "promote-*", "tripleo/*/promote-zed", "tripleo/periodic/promote-t*")
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, j := range r.Jobs {
		jobs = append(jobs, j.Name)
	}
	want := "promote-master promote-wallaby tripleo/other/promote-zed tripleo/periodic/promote-zed tripleo/periodic/promote-train"
	if strings.Join(jobs, " ") != want {
		t.Errorf("jobs = %v, want %s", jobs, want)
	}
	var got []string
	for _, b := range r.Builds {
		got = append(got, b.Job.Name+"#"+b.ID+" "+b.Result+" "+string(b.Outcome))
	}
	// Newest first; the build still running and the never-built job give
	// nothing.
	wantBuilds := []string{
		"promote-master#2 UNSTABLE fail", "promote-master#1 SUCCESS pass",
	}
	for _, w := range wantBuilds {
		if !strings.Contains(strings.Join(got, "; "), w) {
			t.Errorf("builds %v lack %s", got, w)
		}
	}
	if len(got) != 5 || got[0] != "promote-master#2 UNSTABLE fail" {
		t.Errorf("builds = %v", got)
	}
	for _, b := range r.Builds {
		if b.Job.Name == "tripleo/periodic/promote-zed" {
			if b.URL != s.URL+"/job/tripleo/job/periodic/job/promote-zed/9/console" || !b.Ended.Equal(t0.Add(time.Minute)) {
				t.Errorf("build = %+v", b)
			}
		}
	}
	// Every request asked for only what it needs.
	for _, req := range s.Requests() {
		u, _ := url.Parse(req)
		if u.Query().Get("tree") == "" {
			t.Errorf("request %s has no tree", req)
		}
	}
}

func TestNeverCompletedHasNoBuilds(t *testing.T) {
	t.Parallel()
	s := fake(t)
	r, err := poll(t, s, "promote-wallaby")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Jobs) != 1 || len(r.Builds) != 0 {
		t.Errorf("report = %+v", r)
	}
	// As Jenkins does, the permalink of a job that never completed 404s.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/job/promote-wallaby/lastCompletedBuild/api/json", nil)
	req.SetBasicAuth("infrabot", "api-token-1234")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("lastCompletedBuild of a never-built job: %d", resp.StatusCode)
	}
}

func TestFaultsAreClearErrorsWithoutTheToken(t *testing.T) {
	t.Parallel()
	s := fake(t)
	tests := []struct {
		name  string
		opts  jenkins.Options
		fault int
		want  string
	}{
		{"wrong token", jenkins.Options{User: "infrabot", Token: "wrong-secret-token", Jobs: []string{"promote-master"}}, 0, "refused infrabot's credentials"},
		{"missing folder", jenkins.Options{User: "infrabot", Token: "api-token-1234", Jobs: []string{"nope/*"}}, 0, "has no folder nope (404)"},
		{"500", jenkins.Options{User: "infrabot", Token: "api-token-1234", Jobs: []string{"promote-*"}}, 500, "answered 500 Internal Server Error for the list of jobs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.Fail(tc.fault)
			defer s.Fail(0)
			tc.opts.URL = s.URL
			src, err := jenkins.New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.Poll(context.Background(), time.Time{})
			msg := actions.ErrorMessage(err)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error = %q, want %q", msg, tc.want)
			}
			if strings.Contains(err.Error(), "token-") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	for result, want := range map[string]cijobs.Outcome{
		"SUCCESS": cijobs.Pass, "UNSTABLE": cijobs.Fail, "FAILURE": cijobs.Fail,
		"NOT_BUILT": cijobs.NoSignal, "ABORTED": cijobs.NoSignal,
	} {
		if got := jenkins.Outcome(result); got != want {
			t.Errorf("Outcome(%s) = %s, want %s", result, got, want)
		}
	}
}

// One watched job renamed or deleted on Jenkins (404) is reported missing;
// the source's other jobs are read as ever.
func TestAMissingJobIsReportedAndTheOthersRead(t *testing.T) {
	t.Parallel()
	s := fake(t)
	r, err := poll(t, s, "promote-master", "promote-renamed-away", "tripleo/gone/promote-x")
	if err != nil {
		t.Fatalf("one missing job failed the whole poll: %v", err)
	}
	if len(r.Jobs) != 1 || r.Jobs[0].Name != "promote-master" || len(r.Builds) != 2 {
		t.Errorf("report = %+v, want promote-master and its two builds", r)
	}
	if len(r.Missing) != 2 || r.Missing[0].Name != "promote-renamed-away" || r.Missing[1].Name != "tripleo/gone/promote-x" {
		t.Errorf("missing = %+v", r.Missing)
	}
}

// deleteAfter is a transport that deletes jobs on the fake Jenkins once
// a request for path was answered: a job deleted between a poll's
// listing and its read.
type deleteAfter struct {
	s    *jenkinstest.Server
	path string
	jobs []string
}

func (d deleteAfter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.URL.Path == d.path {
		for _, j := range d.jobs {
			d.s.Remove(j)
		}
	}
	return resp, err
}

// A job (or folder) that a glob listed and that is deleted before it is
// read is simply gone, as the next listing will say: no error, and not
// reported missing either.
func TestAJobDeletedAfterTheListingIsGone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, listing, remove, want string
	}{
		{"promote-*", "/api/json", "promote-wallaby", "promote-master"},
		{"tripleo/*/promote-zed", "/job/tripleo/api/json", "tripleo/other/promote-zed", "tripleo/periodic/promote-zed"},
	} {
		s := fake(t)
		src, err := jenkins.New(jenkins.Options{
			URL: s.URL, User: "infrabot", Token: "api-token-1234", Jobs: []string{tc.pattern},
			Client: &http.Client{Transport: deleteAfter{s, tc.listing, []string{tc.remove}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := src.Poll(context.Background(), time.Time{})
		if err != nil {
			t.Fatalf("%s: a job deleted after the listing failed the poll: %v", tc.pattern, err)
		}
		if len(r.Jobs) != 1 || r.Jobs[0].Name != tc.want || len(r.Missing) != 0 {
			t.Errorf("%s: jobs %+v, missing %+v; want only %s", tc.pattern, r.Jobs, r.Missing, tc.want)
		}
	}
}
