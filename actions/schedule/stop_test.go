package schedule_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/schedule"
	"github.com/infrabot/infrabot/storage"
)

// stopOnRecord is the store's LastRuns that, once the job named job has
// its run recorded, stops the scheduler (as a SIGTERM at that moment
// would) and returns only when the stop has begun.
type stopOnRecord struct {
	*storage.DB
	job     string
	sched   *schedule.Scheduler
	stopped <-chan struct{}
	once    atomic.Bool
}

func (l *stopOnRecord) SetLastRun(ctx context.Context, job string, t time.Time) error {
	if err := l.DB.SetLastRun(ctx, job, t); err != nil {
		return err
	}
	if job == l.job && l.once.CompareAndSwap(false, true) {
		go l.sched.Close()
		<-l.stopped
	}
	return nil
}

// A stop that begins between recording a job's run and starting it must
// not leave the record behind: the next start would believe the job ran.
// It runs at the next start instead.
func TestStopBetweenRecordingAndStartingAJobLeavesItDue(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "infrabot.db")
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	clock := func() time.Time { return now }
	stopped := make(chan struct{})
	runs := &stopOnRecord{DB: db, job: "test/report", stopped: stopped}
	s := schedule.New(schedule.Options{LastRuns: runs, Now: clock, MaxJitter: time.Nanosecond})
	runs.sched = s
	var reports atomic.Int32
	// The watcher runs until the stop begins, and says so.
	if err := s.Add(actions.Job{Name: "test/a-watcher", Spec: "@every 1m", Run: func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(actions.Job{Name: "test/report", Spec: "@every 1m", Run: counter(&reports)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	s.RunDue(context.Background()) // the watcher first (by name), then the report
	s.Close()
	if n := reports.Load(); n != 0 {
		t.Fatalf("the report ran %d times after the stop began", n)
	}
	db.Close()

	db, err = storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s = schedule.New(schedule.Options{LastRuns: db, Now: clock, MaxJitter: time.Nanosecond})
	defer s.Close()
	if err := s.Add(actions.Job{Name: "test/report", Spec: "@every 1m", Run: counter(&reports)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.RunDue(context.Background())
	s.Wait()
	if n := reports.Load(); n != 1 {
		t.Errorf("at the next start the report ran %d times, want 1: its slot came while infrabot stopped", n)
	}
}
