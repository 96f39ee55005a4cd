package storage

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketReplays is where FirstSeen kept the keys of accepted deliveries
// before the replay log, by key, each with the time until which it was
// remembered; keySweepAt, inside it, said when it was last swept. A store
// that still has it has its live keys moved to the log when opened
// (moveOldReplays), and the bucket dropped.
var (
	bucketReplays = []byte("replays")
	keySweepAt    = []byte("\x00sweep-at")
)

// bucketReplayLog holds the keys of deliveries remembered with Remember,
// in the order they expire: each key is the 8-byte big-endian time until
// which it is remembered followed by the delivery's key, and the value is
// empty. New keys go at its end and expired ones leave from its front, so
// a commit touches a page or two of it, however many deliveries it holds;
// keys scattered by their hash would touch a page each. It is read
// whole, once, by Remembered when a process starts.
var bucketReplayLog = []byte("replay-log")

// replayLogSweep bounds the expired keys one Remember drops.
const replayLogSweep = 256

// Remember stores keys, remembered until until, without checking them:
// the caller (bot.Guard) checks them in memory, having read what earlier
// processes remembered with Remembered. It returns at once; wait returns
// when they are on disk, or why they could not be stored. Writes queued
// after it commit with it or after it.
func (db *DB) Remember(keys []string, now, until time.Time) (wait func() error) {
	return db.queue.start(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketReplayLog)
		if err != nil {
			return err
		}
		var expired [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && len(expired) < replayLogSweep; k, _ = c.Next() {
			if len(k) >= 8 && now.Before(unixNano(k[:8])) {
				break
			}
			expired = append(expired, append([]byte(nil), k...))
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		at := itob(uint64(until.UnixNano()))
		for _, k := range keys {
			if err := b.Put(append(at[:8:8], k...), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// Unremember drops keys stored by Remember until the times given.
func (db *DB) Unremember(ctx context.Context, keys map[string]time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	return db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReplayLog)
		if b == nil {
			return nil
		}
		for k, until := range keys {
			if err := b.Delete(append(itob(uint64(until.UnixNano())), k...)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Remembered calls fn with every delivery key still remembered at now,
// and the time until which it is.
func (db *DB) Remembered(now time.Time, fn func(key string, until time.Time)) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReplayLog)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.Seek(itob(uint64(now.UnixNano()) + 1)); k != nil; k, _ = c.Next() {
			if len(k) > 8 {
				fn(string(k[8:]), unixNano(k[:8]))
			}
		}
		return nil
	})
}

// moveOldReplays moves the keys of the replays bucket still remembered
// at now into the replay log, and drops the bucket: once, when a store
// written before the log is opened.
func moveOldReplays(tx *bolt.Tx, now time.Time) error {
	old := tx.Bucket(bucketReplays)
	if old == nil {
		return nil
	}
	log, err := tx.CreateBucketIfNotExists(bucketReplayLog)
	if err != nil {
		return err
	}
	err = old.ForEach(func(k, v []byte) error {
		if string(k) == string(keySweepAt) || len(v) != 8 || !now.Before(unixNano(v)) {
			return nil
		}
		return log.Put(append(append([]byte(nil), v...), k...), nil)
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket(bucketReplays)
}

// unixNano reads a time stored as 8 bytes of Unix nanoseconds (the zero
// time for anything else).
func unixNano(v []byte) time.Time {
	if len(v) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(btoi(v)))
}
