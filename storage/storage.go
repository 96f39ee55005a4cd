// Package storage keeps infrabot's state in one bbolt file: the audit log,
// runs with their approval requests, and environment locks. It implements
// the store interfaces of package actions; bbolt is used nowhere else.
package storage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/actions"
)

var (
	bucketAudit = []byte("audit")
	bucketRuns  = []byte("runs")
	bucketLocks = []byte("locks")
	bucketMeta  = []byte("meta")
	// bucketOpen indexes the runs that have not ended (awaiting approval
	// or running) by id, so that the expiry sweep and the recovery at
	// start read those few instead of the whole history.
	bucketOpen = []byte("open-runs")

	keyAuditHead = []byte("audit-head")
)

// DB is infrabot's store.
type DB struct {
	bolt  *bolt.DB
	queue *commitQueue
	// head is the audit chain's head as the last append left it, kept
	// by the committer alone (audit.go, lastHead).
	head auditHead
	// backupStall is BackupStall, shorter in tests.
	backupStall time.Duration
	// backupWrote, if set, is called after each write of a backup's
	// copy beside the store (tests).
	backupWrote func()
	// left is what Open found left beside the store by backups cut off
	// (LeftCopies).
	left []LeftCopy
}

// OpenTimeout is how long Open waits for another process to let go of
// the file.
const OpenTimeout = 2 * time.Second

// Open opens (creating if needed) the store at path.
func Open(path string) (*DB, error) { return open(path, initialMap()) }

// initialMap is how much of the file bbolt maps at first. A write that
// grows the file past the map must remap it, which waits for every read
// transaction open (a verify of a long log, say), and every read begun
// after that write waits for it in turn. Stores are a few MiB; mapping
// 256 MiB spares the remaps until the file outgrows it, and costs address
// space, and 16 MiB of the file's apparent size: with a map that big,
// bbolt extends the file (sparsely) 16 MiB past its data at a time. On
// Windows bbolt would grow the file itself to the map, so there it is
// left to bbolt.
func initialMap() int {
	if runtime.GOOS == "windows" {
		return 0
	}
	return 256 << 20
}

func open(path string, initialMap int) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating the storage directory: %w", err)
	}
	b, err := openBolt(path, &bolt.Options{Timeout: OpenTimeout, InitialMmapSize: initialMap})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("the store %s is in use by another infrabot process (waited %s); stop it first, or give this one its own storage.path", path, OpenTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the store %s: %w", path, err)
	}
	err = b.Update(func(tx *bolt.Tx) error { return prepare(tx) })
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("preparing the store %s: %w", path, err)
	}
	left := removeLeftCopies(path)
	return &DB{bolt: b, queue: newCommitQueue(b), backupStall: BackupStall, left: left}, nil
}

// Close commits the writes already queued, then closes the file. Writes
// after Close fail.
func (db *DB) Close() error {
	db.queue.close()
	return db.bolt.Close()
}

func itob(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

func btoi(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// update runs fn in a write transaction, unless ctx is already done, and
// returns once that transaction is on disk. The transaction is shared with
// the writes queued at the same time (see commit.go): fn may run more
// than once and must derive what it writes from tx alone. Once queued, a
// write is waited for even if ctx ends, so that no caller reports an
// outcome that is not, or not yet, on disk.
func (db *DB) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.queue.commit(fn)
}

func (db *DB) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.View(fn)
}

// CreateRun stores a new run and gives it the next id.
func (db *DB) CreateRun(ctx context.Context, r *actions.Run) error {
	return db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		r.ID = int64(id)
		return putRun(tx, r)
	})
}

// putRun stores r and keeps the index of open runs in step with it.
func putRun(tx *bolt.Tx, r *actions.Run) error {
	key := itob(uint64(r.ID))
	if err := putJSON(tx.Bucket(bucketRuns), key, r); err != nil {
		return err
	}
	if r.State.Done() {
		return tx.Bucket(bucketOpen).Delete(key)
	}
	return tx.Bucket(bucketOpen).Put(key, []byte{})
}

// indexOpenRuns builds the index of open runs for a store written before
// it existed.
func indexOpenRuns(tx *bolt.Tx) error {
	open, err := tx.CreateBucket(bucketOpen)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketRuns).ForEach(func(k, v []byte) error {
		var r actions.Run
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decoding run %d: %w", btoi(k), err)
		}
		if r.State.Done() {
			return nil
		}
		return open.Put(k, []byte{})
	})
}

// UpdateRun applies fn to run id in one transaction.
func (db *DB) UpdateRun(ctx context.Context, id int64, fn func(*actions.Run) error) (*actions.Run, error) {
	var out *actions.Run
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		r, err := getRun(b, id)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		r.ID = id
		out = r
		return putRun(tx, r)
	})
	return out, err
}

// Run returns run id.
func (db *DB) Run(ctx context.Context, id int64) (*actions.Run, error) {
	var out *actions.Run
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = getRun(tx.Bucket(bucketRuns), id)
		return err
	})
	return out, err
}

func getRun(b *bolt.Bucket, id int64) (*actions.Run, error) {
	if id <= 0 {
		return nil, actions.Errorf(actions.NotFound, "there is no run %d", id)
	}
	v := b.Get(itob(uint64(id)))
	if v == nil {
		return nil, actions.Errorf(actions.NotFound, "there is no run or request %d", id)
	}
	var r actions.Run
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decoding run %d: %w", id, err)
	}
	return &r, nil
}

// Runs returns the runs f selects, newest first. A filter that asks only
// for states of runs not yet ended is answered from the index of open runs.
func (db *DB) Runs(ctx context.Context, f actions.RunFilter) ([]*actions.Run, error) {
	var out []*actions.Run
	err := db.view(ctx, func(tx *bolt.Tx) error {
		runs := tx.Bucket(bucketRuns)
		keys := runs.Cursor()
		if openOnly(f.States) {
			keys = tx.Bucket(bucketOpen).Cursor()
		}
		for k, _ := keys.Last(); k != nil; k, _ = keys.Prev() {
			r, err := getRun(runs, int64(btoi(k)))
			if err != nil {
				return err
			}
			if f.Env != "" && r.Env != f.Env {
				continue
			}
			if len(f.States) > 0 && !containsState(f.States, r.State) {
				continue
			}
			out = append(out, r)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
		}
		return nil
	})
	return out, err
}

func openOnly(states []actions.RunState) bool {
	for _, s := range states {
		if s.Done() {
			return false
		}
	}
	return len(states) > 0
}

func containsState(states []actions.RunState, s actions.RunState) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// UpdateLock applies fn to env's lock in one transaction.
func (db *DB) UpdateLock(ctx context.Context, env string, fn func(*actions.Lock) (*actions.Lock, error)) (*actions.Lock, error) {
	var out *actions.Lock
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLocks)
		var cur *actions.Lock
		if v := b.Get([]byte(env)); v != nil {
			cur = new(actions.Lock)
			if err := json.Unmarshal(v, cur); err != nil {
				return fmt.Errorf("decoding the lock of %s: %w", env, err)
			}
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		out = next
		if next == nil {
			return b.Delete([]byte(env))
		}
		next.Env = env
		return putJSON(b, []byte(env), next)
	})
	return out, err
}

// Locks returns every lock held.
func (db *DB) Locks(ctx context.Context) ([]actions.Lock, error) {
	var out []actions.Lock
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLocks).ForEach(func(k, v []byte) error {
			var l actions.Lock
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("decoding the lock of %s: %w", k, err)
			}
			out = append(out, l)
			return nil
		})
	})
	return out, err
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// Backup writes a consistent copy of the store to path, for backups and for
// taking a snapshot while infrabot runs.
func (db *DB) Backup(path string) error {
	return db.bolt.View(func(tx *bolt.Tx) error { return tx.CopyFile(path, 0o600) })
}
