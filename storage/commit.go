package storage

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Group commit.
//
// Every write of the store joins one queue. A single committer takes
// whatever has queued up while the previous transaction was being written
// and commits it in one bbolt transaction: one write of the pages, one
// fdatasync, however many writes it holds. A lone write is committed at
// once (nothing waits for company); under load, the writes that arrive
// during one fsync share the next. Each caller gets its answer only after
// the transaction holding its write is on disk, or failed.
//
// Writes run one after the other, in the order they were queued, each
// seeing what the ones before it wrote; that is what keeps the audit
// chain in order. bbolt has no savepoints, so when one write returns an
// error the transaction is rolled back, that caller alone gets the error,
// and the batch is run again without it. A write may therefore be run
// more than once: it must derive everything it stores from the
// transaction it is given (the store's methods do; the chain's head
// Append keeps in memory is trusted only while it names the log's last
// key, for this reason). It must not write to
// the store itself: it runs on the committer, which would wait for itself.

// maxBatch bounds the writes one transaction holds, so that a flood does
// not build one huge transaction with every caller waiting on it.
const maxBatch = 1024

var errClosed = errors.New("the store is closed")

// write is one caller's change, queued for the committer.
type write struct {
	fn   func(*bolt.Tx) error
	done chan error // buffered: the committer never waits for the caller
}

// commitQueue is the store's single writer.
type commitQueue struct {
	bolt *bolt.DB
	in   chan *write

	// mu is held for reading while a write is queued and for writing
	// while Close closes in, so nothing is queued after the committer
	// was told to finish.
	mu     sync.RWMutex
	closed bool
	done   chan struct{}

	txs, writes atomic.Uint64

	// hooks are for the package's own tests.
	hookMu sync.Mutex
	hold   chan struct{} // the committer waits on it before its next batch
	fail   error         // the next transaction fails with it
}

func newCommitQueue(b *bolt.DB) *commitQueue {
	q := &commitQueue{bolt: b, in: make(chan *write, maxBatch), done: make(chan struct{})}
	go q.run()
	return q
}

// CommitStats counts the store's write transactions and the writes they
// carried; Writes/Transactions is how many writes share an fsync.
type CommitStats struct {
	Transactions uint64
	Writes       uint64
}

// Commits returns how many transactions the store has committed, and how
// many writes they held, since it was opened.
func (db *DB) Commits() CommitStats {
	return CommitStats{Transactions: db.queue.txs.Load(), Writes: db.queue.writes.Load()}
}

// commit queues fn and returns once the transaction holding it has
// committed (nil) or failed (fn's own error, or the transaction's).
func (q *commitQueue) commit(fn func(*bolt.Tx) error) error {
	return <-q.queue(fn)
}

// start queues fn and returns (at once, unless maxBatch writes are queued
// already: then once there is room); wait, to be called once, returns
// when the transaction holding fn has committed (nil) or failed. Writes
// queued after it commit in the same transaction or a later one, so a
// caller that has seen a later write commit knows this one has.
func (q *commitQueue) start(fn func(*bolt.Tx) error) (wait func() error) {
	done := q.queue(fn)
	return func() error { return <-done }
}

// queue queues fn; its transaction's outcome comes on the channel.
func (q *commitQueue) queue(fn func(*bolt.Tx) error) <-chan error {
	w := &write{fn: fn, done: make(chan error, 1)}
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		w.done <- errClosed
		return w.done
	}
	q.in <- w
	return w.done
}

// close lets the committer finish what was queued, then stops it.
func (q *commitQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.in)
	}
	q.mu.Unlock()
	<-q.done
}

func (q *commitQueue) run() {
	defer close(q.done)
	batch := make([]*write, 0, maxBatch)
	for first := range q.in {
		q.waitIfHeld()
		batch = append(batch[:0], first)
	more:
		for len(batch) < maxBatch {
			select {
			case w, ok := <-q.in:
				if !ok {
					break more
				}
				batch = append(batch, w)
			default:
				break more
			}
		}
		q.commitBatch(batch)
		clear(batch)
	}
}

// commitBatch commits batch in one transaction. A write that fails is
// answered with its error and left out of a second attempt; a transaction
// that fails as a whole fails every write in it.
func (q *commitQueue) commitBatch(batch []*write) {
	for len(batch) > 0 {
		failed, failure := -1, error(nil)
		err := q.bolt.Update(func(tx *bolt.Tx) error {
			for i, w := range batch {
				if err := apply(w.fn, tx); err != nil {
					failed, failure = i, err
					return err
				}
			}
			return q.injectedFailure()
		})
		if failed >= 0 {
			batch[failed].done <- failure
			batch = slices.Delete(batch, failed, failed+1)
			continue
		}
		if err == nil {
			q.txs.Add(1)
			q.writes.Add(uint64(len(batch)))
		}
		for _, w := range batch {
			w.done <- err
		}
		return
	}
}

// apply runs one write, turning a panic into that write's error: one bad
// write must not take the committer, and every other caller, down.
func apply(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("a store write crashed: %v", r)
		}
	}()
	return fn(tx)
}

func (q *commitQueue) waitIfHeld() {
	q.hookMu.Lock()
	hold := q.hold
	q.hookMu.Unlock()
	if hold != nil {
		<-hold
	}
}

func (q *commitQueue) injectedFailure() error {
	q.hookMu.Lock()
	defer q.hookMu.Unlock()
	err := q.fail
	q.fail = nil
	return err
}
