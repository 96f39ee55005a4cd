package actions

import (
	"context"
	"hash/fnv"
	"time"
)

// Job is work the kernel runs on a schedule for a module (or for itself,
// as the approval-expiry sweep).
type Job struct {
	// Name is unique among jobs ("module/job"); the job's last run is
	// remembered under it.
	Name string
	// Spec is a cron expression: five fields, or six with seconds first;
	// or a descriptor such as @every 1m, @hourly, @daily.
	Spec string
	// TimeZone is an IANA zone name for Spec; "" is UTC.
	TimeZone string
	// Run does the job. Its context ends when infrabot stops.
	Run func(ctx context.Context) error
}

// Scheduler runs jobs on their schedules. Its contract, which modules rely
// on:
//
//   - A job's last run is persisted. A job that should have run while
//     infrabot was down runs once at start, not once per missed slot; a
//     job that has never run waits for its first slot.
//   - Runs of one job never overlap: a slot that comes while the job still
//     runs is skipped.
//   - Jobs on the same schedule are spread by a small jitter.
//   - Close stops firing, cancels the context of running jobs and waits
//     for them.
type Scheduler interface {
	// Add registers a job; an invalid spec or time zone, or a name in
	// use, is an error. Jobs may be added before or after start.
	Add(job Job) error
	// Replace puts job in place of the job of the same name (or adds it):
	// a job whose schedule stays keeps its next slot and its last run, so
	// a config reload neither fires it again nor forgets it.
	Replace(job Job) error
	// Remove stops firing the named job; its last run stays remembered.
	Remove(name string) bool
}

// Elector decides whether this infrabot may fire a job's slot. With one
// replica it always may; with several (coordinated through etcd) only the
// elected one does. It is the one seam a multi-replica infrabot changes.
type Elector interface {
	MayFire(ctx context.Context, job string, slot time.Time) (bool, error)
}

// Alone is the Elector of a single infrabot: it may fire every job.
type Alone struct{}

// MayFire always says yes.
func (Alone) MayFire(context.Context, string, time.Time) (bool, error) { return true, nil }

// Jitter is a stable delay for the slots of the job (or check) called name
// on schedule s: derived from the name alone, so that it is the same after
// a restart and on every replica, and less than both most and 1/parts of
// the schedule's interval. Jobs on the same schedule then spread out
// instead of all starting in the same millisecond.
func Jitter(name string, s interface{ Next(time.Time) time.Time }, most time.Duration, parts int) time.Duration {
	base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	first := s.Next(base)
	limit := min(most, s.Next(first).Sub(first)/time.Duration(parts))
	if limit <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(limit))
}
