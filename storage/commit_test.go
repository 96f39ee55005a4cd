package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/storage"
)

// waitQueued waits until n writes wait behind the held committer.
func waitQueued(t *testing.T, db *storage.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for db.QueuedWrites() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", db.QueuedWrites(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// appendAll starts n concurrent appends and returns their results once all
// returned; returned counts those that have.
func appendAll(db *storage.DB, n int, returned *atomic.Int64) func() ([]actions.AuditEntry, []error) {
	entries := make([]actions.AuditEntry, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entries[i], errs[i] = db.Append(context.Background(), actions.AuditEntry{
				Time: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC), Person: fmt.Sprintf("p%d", i), Event: "request", Detail: "whoami",
			})
			returned.Add(1)
		}()
	}
	return func() ([]actions.AuditEntry, []error) {
		wg.Wait()
		return entries, errs
	}
}

func TestConcurrentAppendsCommitTogetherInChainOrder(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 3)
	const n = 64
	before := db.Commits()
	release := db.HoldCommits()
	var returned atomic.Int64
	wait := appendAll(db, n, &returned)
	waitQueued(t, db, n-1) // the committer holds the first
	if got := returned.Load(); got != 0 {
		t.Fatalf("%d appends returned before their transaction was committed", got)
	}
	release()
	entries, errs := wait()

	if after := db.Commits(); after.Transactions-before.Transactions != 1 || after.Writes-before.Writes != n {
		t.Errorf("commits: %+v → %+v, want one transaction of %d writes", before, after, n)
	}
	seqs := map[uint64]string{}
	for i, e := range entries {
		if errs[i] != nil {
			t.Fatalf("append %d: %v", i, errs[i])
		}
		if other, dup := seqs[e.Seq]; dup {
			t.Fatalf("record %d returned to both %s and %s", e.Seq, other, e.Person)
		}
		seqs[e.Seq] = e.Person
	}
	// What each caller was told is what is on disk, after a reopen.
	db.Close()
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := db.VerifyAudit(context.Background()); err != nil || got != 3+n {
		t.Fatalf("verify = %d, %v; want %d records and an intact chain", got, err, 3+n)
	}
	tail, err := db.Tail(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tail {
		if seqs[e.Seq] != e.Person {
			t.Errorf("record %d is %s's, but was returned to %q", e.Seq, e.Person, seqs[e.Seq])
		}
	}
}

func TestFailedCommitFailsExactlyItsCallers(t *testing.T) {
	t.Parallel()
	_, db := openAudit(t, 2)
	defer db.Close()
	ctx := context.Background()
	diskFull := errors.New("no space left on device")

	release := db.HoldCommits()
	var returned atomic.Int64
	wait := appendAll(db, 10, &returned)
	waitQueued(t, db, 9)
	db.FailNextCommit(diskFull)
	release()
	_, errs := wait()
	for i, err := range errs {
		if !errors.Is(err, diskFull) {
			t.Errorf("append %d of the failed batch: %v, want the commit's error", i, err)
		}
	}

	// The next writes are not affected, and the chain goes on from where
	// the failed batch left it: none of its records were kept.
	e, err := db.Append(ctx, actions.AuditEntry{Time: time.Now(), Person: "alice", Event: "request"})
	if err != nil || e.Seq != 3 {
		t.Fatalf("append after the failed batch = seq %d, %v; want 3", e.Seq, err)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 3 {
		t.Errorf("verify = %d, %v; want 3", n, err)
	}
}

func TestFailedWriteFailsOnlyItsCaller(t *testing.T) {
	t.Parallel()
	_, db := openAudit(t, 0)
	defer db.Close()
	ctx := context.Background()
	if err := db.CreateRun(ctx, &actions.Run{Action: "teardown", Env: "staging", State: actions.AwaitingApproval}); err != nil {
		t.Fatal(err)
	}
	before := db.Commits()
	release := db.HoldCommits()
	var returned atomic.Int64
	wait := appendAll(db, 8, &returned)
	waitQueued(t, db, 7)

	// Two writes that fail join the held batch: an approval that finds
	// the request decided, and an update of a run that does not exist.
	conflict := make(chan error, 1)
	go func() {
		_, err := db.UpdateRun(ctx, 1, func(r *actions.Run) error {
			r.State = actions.Running
			return actions.Errorf(actions.Conflict, "request 1 is not awaiting approval")
		})
		conflict <- err
	}()
	missing := make(chan error, 1)
	go func() {
		_, err := db.UpdateRun(ctx, 42, func(*actions.Run) error { return nil })
		missing <- err
	}()
	approved := make(chan error, 1)
	go func() {
		_, err := db.UpdateRun(ctx, 1, func(r *actions.Run) error { r.State = actions.Running; return nil })
		approved <- err
	}()
	waitQueued(t, db, 10)
	release()

	if err := <-conflict; actions.ErrorKind(err) != actions.Conflict {
		t.Errorf("the conflicting update: %v, want its own conflict", err)
	}
	if err := <-missing; actions.ErrorKind(err) != actions.NotFound {
		t.Errorf("the update of a missing run: %v, want not found", err)
	}
	if err := <-approved; err != nil {
		t.Errorf("the update in the same batch: %v", err)
	}
	_, errs := wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("append %d: %v", i, err)
		}
	}
	if after := db.Commits(); after.Transactions-before.Transactions != 1 || after.Writes-before.Writes != 9 {
		t.Errorf("commits: %+v → %+v, want one transaction of the 9 writes that succeeded", before, after)
	}
	if r, _ := db.Run(ctx, 1); r.State != actions.Running {
		t.Errorf("run 1 is %s, want running (the approval in the batch)", r.State)
	}
	if n, err := db.VerifyAudit(ctx); err != nil || n != 8 {
		t.Errorf("verify = %d, %v; want 8", n, err)
	}
}

func TestWriteAfterCloseFails(t *testing.T) {
	t.Parallel()
	_, db := openAudit(t, 1)
	db.Close()
	if _, err := db.Append(context.Background(), actions.AuditEntry{Time: time.Now(), Person: "bob", Event: "request"}); err == nil {
		t.Fatal("an append after Close succeeded")
	}
}

// BenchmarkAuditAppendParallel appends from 64 goroutines: the records
// share transactions, and the benchmark reports how many share an fsync.
func BenchmarkAuditAppendParallel(b *testing.B) {
	db, err := storage.Open(b.TempDir() + "/infrabot.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	e := actions.AuditEntry{Time: time.Now(), Person: "bob", Event: "request", Detail: "whoami"}
	before := db.Commits()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.Append(context.Background(), e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	c := db.Commits()
	b.ReportMetric(float64(c.Writes-before.Writes)/float64(max(1, c.Transactions-before.Transactions)), "writes/commit")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// Remember returns before its write is on disk; the write commits in
// queue order, so once a write queued after it has committed, it has too;
// and a failed transaction is said by its wait.
func TestRememberIsQueuedAndCommitsInOrder(t *testing.T) {
	t.Parallel()
	db, err := storage.Open(t.TempDir() + "/infrabot.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Now()
	release := db.HoldCommits()
	wait := db.Remember([]string{"sig:1"}, now, now.Add(time.Minute)) // the committer holds it
	later := make(chan error, 1)
	go func() {
		_, err := db.Append(ctx, actions.AuditEntry{Person: "alice", Event: "request", Action: "whoami"})
		later <- err
	}()
	waitQueued(t, db, 1)
	release()
	if err := <-later; err != nil {
		t.Fatal(err)
	}
	remembered := false
	if err := db.Remembered(now, func(k string, _ time.Time) { remembered = remembered || k == "sig:1" }); err != nil || !remembered {
		t.Fatalf("a remembered key is not on disk after a later write committed (err %v)", err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	db.FailNextCommit(errors.New("disk full"))
	if err := db.Remember([]string{"sig:2"}, now, now.Add(time.Minute))(); err == nil {
		t.Error("a failed transaction's Remember said nothing")
	}
}
