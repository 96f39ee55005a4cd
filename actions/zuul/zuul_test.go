package zuul_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/actions/cijobs"
	"github.com/infrabot/infrabot/actions/zuul"
	"github.com/infrabot/infrabot/actions/zuul/zuultest"
)

var t0 = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

func builds() []zuultest.Build {
	return []zuultest.Build{
		{UUID: "u1", Job: "periodic-standalone", Pipeline: "periodic", Project: "config", Branch: "master", Result: "SUCCESS", Start: t0, End: t0.Add(time.Hour), LogURL: "https://logs.example.org/u1/"},
		{UUID: "u2", Job: "periodic-standalone", Pipeline: "periodic", Project: "config", Branch: "master", Result: "NODE_FAILURE", Start: t0.Add(2 * time.Hour), End: t0.Add(2*time.Hour + 5*time.Minute), Retried: true},
		{UUID: "u3", Job: "periodic-standalone", Pipeline: "periodic", Project: "config", Branch: "master", Result: "POST_FAILURE", Start: t0.Add(3 * time.Hour), End: t0.Add(4 * time.Hour)},
		{UUID: "u4", Job: "periodic-promote", Pipeline: "periodic", Project: "config", Branch: "master", Result: "SKIPPED", Start: t0.Add(4 * time.Hour), End: t0.Add(4 * time.Hour)},
		{UUID: "u5", Job: "periodic-standalone", Pipeline: "periodic", Project: "config", Branch: "master", Start: t0.Add(5 * time.Hour)}, // running
		{UUID: "u6", Job: "check-job", Pipeline: "check", Project: "config", Branch: "master", Result: "FAILURE", Start: t0.Add(5 * time.Hour), End: t0.Add(6 * time.Hour)},
	}
}

// Both shapes Zuul has served read the same: project and branch from the
// "ref" object or the top level, times in UTC, no running build and no
// retried attempt.
func TestBothShapesReadTheSame(t *testing.T) {
	t.Parallel()
	for _, shape := range []struct {
		name  string
		shape zuultest.Shape
	}{{"nested ref", zuultest.Nested}, {"flat", zuultest.Flat}} {
		t.Run(shape.name, func(t *testing.T) {
			t.Parallel()
			fake := zuultest.New("rdo", shape.shape)
			defer fake.Close()
			fake.Add(builds()...)
			src, err := zuul.New(zuul.Options{URL: fake.URL + "/", Tenant: "rdo", Pipelines: []string{"periodic"}, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			r, err := src.Poll(context.Background(), time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range r.Builds {
				got = append(got, b.ID+" "+b.Result+" "+string(b.Outcome))
			}
			want := []string{"u4 SKIPPED none", "u3 POST_FAILURE fail", "u1 SUCCESS pass"}
			if strings.Join(got, "; ") != strings.Join(want, "; ") {
				t.Fatalf("builds = %v, want %v", got, want)
			}
			u3 := r.Builds[1]
			wantJob := cijobs.JobID{Name: "periodic-standalone", Pipeline: "periodic", Project: "config", Branch: "master"}
			if u3.Job != wantJob {
				t.Errorf("job = %+v, want %+v", u3.Job, wantJob)
			}
			if !u3.Started.Equal(t0.Add(3*time.Hour)) || !u3.Ended.Equal(t0.Add(4*time.Hour)) || u3.Ended.Location() != time.UTC {
				t.Errorf("times = %v – %v, want %v – %v in UTC", u3.Started, u3.Ended, t0.Add(3*time.Hour), t0.Add(4*time.Hour))
			}
			if u3.URL != fake.URL+"/t/rdo/build/u3" {
				t.Errorf("a build without log_url links to %q, want its build page", u3.URL)
			}
			if r.Builds[2].URL != "https://logs.example.org/u1/" {
				t.Errorf("log url = %q", r.Builds[2].URL)
			}
			q, _ := url.ParseQuery(fake.Requests()[0])
			if q.Get("complete") != "true" || q.Get("limit") != "10" || q.Get("pipeline") != "periodic" {
				t.Errorf("query = %v", q)
			}
		})
	}
}

func TestFiltersAreRepeatedParameters(t *testing.T) {
	t.Parallel()
	fake := zuultest.New("rdo", zuultest.Nested)
	defer fake.Close()
	fake.Add(builds()...)
	src, _ := zuul.New(zuul.Options{URL: fake.URL, Tenant: "rdo", Pipelines: []string{"periodic", "check"}, Jobs: []string{"check-job", "periodic-promote"}})
	r, err := src.Poll(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Builds) != 2 || r.Builds[0].ID != "u6" || r.Builds[1].ID != "u4" {
		t.Errorf("builds = %+v", r.Builds)
	}
	q, _ := url.ParseQuery(fake.Requests()[0])
	if len(q["pipeline"]) != 2 || len(q["job_name"]) != 2 {
		t.Errorf("query = %v", q)
	}
}

// A poll goes back page by page to the previous poll's newest build, and
// on until a whole page started longer before it than a build runs, so
// builds that finished while infrabot was down are not missed.
func TestPagesBackToSince(t *testing.T) {
	t.Parallel()
	fake := zuultest.New("rdo", zuultest.Nested)
	defer fake.Close()
	for i := range 25 {
		at := t0.Add(time.Duration(i) * time.Hour)
		fake.Add(zuultest.Build{UUID: "b" + string(rune('a'+i)), Job: "j", Pipeline: "periodic", Result: "SUCCESS", Start: at, End: at.Add(time.Minute)})
	}
	src, _ := zuul.New(zuul.Options{URL: fake.URL, Tenant: "rdo", Limit: 5, MaxRuntime: 90 * time.Minute})
	r, err := src.Poll(context.Background(), t0.Add(12*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// Pages of 5 from the newest: b24–b20, b19–b15, b14–b10 (b12 ended
	// after since), b9–b5, which all started before since − 90 min.
	if n := len(fake.Requests()); n != 4 {
		t.Errorf("%d requests, want 4 (5 builds each, back past since)", n)
	}
	if len(r.Builds) != 20 || !r.Builds[19].Ended.Equal(t0.Add(5*time.Hour+time.Minute)) {
		t.Errorf("%d builds, oldest %v", len(r.Builds), r.Builds[len(r.Builds)-1].Ended)
	}
}

// Zuul lists builds by id, the order they started. A long build that
// started before Limit short ones is on page 2 even though it ended after
// all of them and after the previous poll: the poll still reports it, and
// the report is in the order builds ended, newest first.
func TestLongBuildOnALaterPageIsReported(t *testing.T) {
	t.Parallel()
	fake := zuultest.New("rdo", zuultest.Nested)
	defer fake.Close()
	fake.Add(
		zuultest.Build{UUID: "long", Job: "periodic-long", Pipeline: "periodic", Result: "FAILURE", Start: t0, End: t0.Add(3 * time.Hour)},
		zuultest.Build{UUID: "s1", Job: "periodic-short-1", Pipeline: "periodic", Result: "SUCCESS", Start: t0.Add(time.Minute), End: t0.Add(10 * time.Minute)},
		zuultest.Build{UUID: "s2", Job: "periodic-short-2", Pipeline: "periodic", Result: "SUCCESS", Start: t0.Add(2 * time.Minute), End: t0.Add(11 * time.Minute)},
	)
	src, _ := zuul.New(zuul.Options{URL: fake.URL, Tenant: "rdo", Limit: 2})
	// The previous poll saw s1 and s2 (the long build was running).
	r, err := src.Poll(context.Background(), t0.Add(11*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range r.Builds {
		got = append(got, b.ID)
	}
	if want := "long s2 s1"; strings.Join(got, " ") != want {
		t.Errorf("builds %v, want %s (%d requests)", got, want, len(fake.Requests()))
	}
}

// However busy Zuul is, a poll makes at most MaxPages requests, and says
// so in the log when that cut it short.
func TestPollIsBounded(t *testing.T) {
	t.Parallel()
	fake := zuultest.New("rdo", zuultest.Nested)
	defer fake.Close()
	for i := range 30 {
		at := t0.Add(time.Duration(i) * time.Minute)
		fake.Add(zuultest.Build{UUID: fmt.Sprintf("b%d", i), Job: "j", Pipeline: "periodic", Result: "SUCCESS", Start: at, End: at.Add(time.Minute)})
	}
	var log actionstest.Buffer
	src, _ := zuul.New(zuul.Options{URL: fake.URL, Tenant: "rdo", Limit: 2, MaxPages: 3, Log: slog.New(slog.NewTextHandler(&log, nil))})
	r, err := src.Poll(context.Background(), t0.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Requests()); n != 3 || len(r.Builds) != 6 {
		t.Errorf("%d requests and %d builds, want 3 and 6", n, len(r.Builds))
	}
	if !strings.Contains(log.String(), "cut short") {
		t.Errorf("log = %q, want a poll cut short", log.String())
	}
	// Cut short again: said once, not at every poll.
	if _, err := src.Poll(context.Background(), t0.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "cut short"); n != 1 {
		t.Errorf("the cut-short warning was logged %d times over two polls, want once:\n%s", n, log.String())
	}
}

func TestFaultsAreClearErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(*zuultest.Server)
		tenant string
		want   string
	}{
		{"500", func(s *zuultest.Server) { s.Fail(http.StatusInternalServerError) }, "rdo", "answered 500 Internal Server Error"},
		{"garbage", func(s *zuultest.Server) { s.Garbage(true) }, "rdo", "not a list of builds"},
		{"unknown tenant", func(s *zuultest.Server) {}, "nope", `no tenant "nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := zuultest.New("rdo", zuultest.Nested)
			defer fake.Close()
			tc.setup(fake)
			src, _ := zuul.New(zuul.Options{URL: fake.URL, Tenant: tc.tenant})
			_, err := src.Poll(context.Background(), time.Time{})
			if err == nil || !strings.Contains(actions.ErrorMessage(err), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
	src, _ := zuul.New(zuul.Options{URL: "http://127.0.0.1:1", Tenant: "rdo"})
	if _, err := src.Poll(context.Background(), time.Time{}); !strings.Contains(actions.ErrorMessage(err), "cannot reach Zuul at 127.0.0.1:1") {
		t.Errorf("unreachable: %v", err)
	}
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	for result, want := range map[string]cijobs.Outcome{
		"SUCCESS": cijobs.Pass, "FAILURE": cijobs.Fail, "POST_FAILURE": cijobs.Fail, "RETRY_LIMIT": cijobs.Fail,
		"TIMED_OUT": cijobs.Fail, "NODE_FAILURE": cijobs.Fail, "DISK_FULL": cijobs.Fail, "MERGE_CONFLICT": cijobs.Fail,
		"MERGE_FAILURE": cijobs.Fail, "CONFIG_ERROR": cijobs.Fail, "LOST": cijobs.Fail, "ERROR": cijobs.Fail,
		"SOMETHING_NEW": cijobs.Fail, "SKIPPED": cijobs.NoSignal, "ABORTED": cijobs.NoSignal, "CANCELED": cijobs.NoSignal,
	} {
		if got := zuul.Outcome(result); got != want {
			t.Errorf("Outcome(%s) = %s, want %s", result, got, want)
		}
	}
}

// FuzzDecode checks that no answer makes reading builds panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`[{"uuid":"a","job_name":"j","result":null,"start_time":"2024-02-13T23:17:28","end_time":null,"ref":{"project":"p","branch":"b"}}]`))
	f.Add([]byte(`[{"uuid":"a","job_name":"j","result":"SUCCESS","start_time":"2024-02-13T23:17:28","end_time":"2024-02-13T23:39:24","project":"p","branch":"b","ref":"refs/heads/b","final":false}]`))
	f.Add([]byte(`<html>`))
	f.Add([]byte(`[{"uuid":"a","job_name":"j","start_time":"yesterday"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		builds, err := zuul.Decode(data)
		if err == nil {
			for _, b := range builds {
				if b.UUID == "" {
					t.Fatal("a build without uuid was accepted")
				}
			}
		}
	})
}
