package storage

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketReplays holds the keys of chat deliveries already accepted (Slack's
// trigger, event and envelope ids and decoded request signatures;
// Discord's interaction ids and signatures, under "discord:"), each with
// the time until which it is remembered, so that a request replayed after
// a restart is still refused. keySweepAt, inside it, says when expired
// keys are next dropped.
var (
	bucketReplays = []byte("replays")
	keySweepAt    = []byte("\x00sweep-at")
)

// replaySweep is how often expired replay keys are dropped.
const replaySweep = time.Minute

// FirstSeen reports whether none of keys is remembered at now and, when
// so, remembers them all until until, in one transaction. When it reports
// false it records nothing.
func (db *DB) FirstSeen(ctx context.Context, keys []string, now, until time.Time) (bool, error) {
	first := true
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketReplays)
		if err != nil {
			return err
		}
		if err := sweepReplays(b, now); err != nil {
			return err
		}
		for _, k := range keys {
			if v := b.Get([]byte(k)); v != nil && now.Before(unixNano(v)) {
				first = false
				return nil
			}
		}
		for _, k := range keys {
			if err := b.Put([]byte(k), itob(uint64(until.UnixNano()))); err != nil {
				return err
			}
		}
		return nil
	})
	return first && err == nil, err
}

// bucketReplayLog holds the keys of deliveries remembered with Remember,
// in the order they expire: each key is the 8-byte big-endian time until
// which it is remembered followed by the delivery's key, and the value is
// empty. New keys go at its end and expired ones leave from its front, so
// a commit touches a page or two of it, however many deliveries it holds;
// keys scattered by their hash, as in bucketReplays, would touch a page
// each. It is read whole, once, by Remembered when a process starts.
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
		sweepOldReplays(tx, now)
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

// sweepOldReplays drops the expired keys of the replays bucket, where
// FirstSeen kept them before the log, at most once a replaySweep, and the
// bucket itself once nothing is left in it. It is housekeeping: a failure
// is left for the next time, never made the caller's.
func sweepOldReplays(tx *bolt.Tx, now time.Time) {
	old := tx.Bucket(bucketReplays)
	if old == nil {
		return
	}
	if sweepReplays(old, now) != nil {
		return
	}
	if k, _ := old.Cursor().First(); k != nil && string(k) == string(keySweepAt) {
		if k, _ := old.Cursor().Last(); string(k) == string(keySweepAt) {
			tx.DeleteBucket(bucketReplays)
		}
	}
}

// Remembered calls fn with every delivery key still remembered at now,
// by Remember or FirstSeen, and the time until which it is.
func (db *DB) Remembered(now time.Time, fn func(key string, until time.Time)) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketReplayLog); b != nil {
			c := b.Cursor()
			for k, _ := c.Seek(itob(uint64(now.UnixNano()) + 1)); k != nil; k, _ = c.Next() {
				if len(k) > 8 {
					fn(string(k[8:]), unixNano(k[:8]))
				}
			}
		}
		b := tx.Bucket(bucketReplays)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if until := unixNano(v); string(k) != string(keySweepAt) && now.Before(until) {
				fn(string(k), until)
			}
			return nil
		})
	})
}

// Forget drops keys.
func (db *DB) Forget(ctx context.Context, keys []string) error {
	return db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReplays)
		if b == nil {
			return nil
		}
		for _, k := range keys {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// sweepReplays drops the keys no longer remembered at now, at most once a
// replaySweep: the bucket holds the last ten minutes' deliveries.
func sweepReplays(b *bolt.Bucket, now time.Time) error {
	if v := b.Get(keySweepAt); v != nil && now.Before(unixNano(v)) {
		return nil
	}
	var expired [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if string(k) != string(keySweepAt) && !now.Before(unixNano(v)) {
			expired = append(expired, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return b.Put(keySweepAt, itob(uint64(now.Add(replaySweep).UnixNano())))
}

func unixNano(v []byte) time.Time {
	if len(v) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(btoi(v)))
}
