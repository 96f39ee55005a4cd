package storage

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// HoldCommits makes the committer wait, once it has taken the next write
// and before it gathers the rest of its batch, until release is called.
func (db *DB) HoldCommits() (release func()) {
	hold := make(chan struct{})
	q := db.queue
	q.hookMu.Lock()
	q.hold = hold
	q.hookMu.Unlock()
	return func() {
		q.hookMu.Lock()
		q.hold = nil
		q.hookMu.Unlock()
		close(hold)
	}
}

// FailNextCommit makes the next transaction fail with err after its writes
// ran, as a failed write of the file would.
func (db *DB) FailNextCommit(err error) {
	db.queue.hookMu.Lock()
	db.queue.fail = err
	db.queue.hookMu.Unlock()
}

// QueuedWrites returns how many writes wait for the committer to take them.
func (db *DB) QueuedWrites() int { return len(db.queue.in) }

// ListenPrivate is listenPrivate, for the test of the socket's mode at
// its creation.
var ListenPrivate = listenPrivate

// SetBackupStall sets how long a backup's reader may take nothing before
// the stream is cut (BackupStall).
func (db *DB) SetBackupStall(d time.Duration) { db.backupStall = d }

// AfterBackupWrite has fn called after each write of a backup's copy
// beside the store: a test slows the copy with it. Set it before serving.
func (db *DB) AfterBackupWrite(fn func()) { db.backupWrote = fn }

// OpenReads returns how many read transactions are open on the store.
func (db *DB) OpenReads() int { return db.bolt.Stats().OpenTxN }

// ReplayLogLen returns how many keys the replay log holds.
func (db *DB) ReplayLogLen() int {
	n := 0
	db.bolt.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketReplayLog); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n
}

// SetHolderPatience sets how long tools wait for the infrabot that holds
// the store to send its status line (answer) and each byte after
// (silence), and returns what puts the defaults back. Not for parallel
// tests: the waits are the package's.
func SetHolderPatience(answer, silence time.Duration) (restore func()) {
	was := holderPatience
	holderPatience.answer, holderPatience.silence = answer, silence
	return func() { holderPatience = was }
}

// OpenWithSmallMap opens the store at path as Open does, but with bbolt's
// smallest initial map, so that a write soon grows the file past it and
// must remap, which waits for every read transaction open.
func OpenWithSmallMap(path string) (*DB, error) { return open(path, 0) }

// HoldRead opens a read transaction and keeps it open until release.
func (db *DB) HoldRead() (release func()) {
	tx, err := db.bolt.Begin(false)
	if err != nil {
		panic(err)
	}
	return func() { tx.Rollback() }
}
