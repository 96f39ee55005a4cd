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

// Remember stores keys, remembered until until, without checking them:
// the caller knows they are new (bot.Guard does, for requests signed too
// recently for an earlier process to have seen them). It returns at once;
// wait returns when they are on disk, or why they could not be stored.
func (db *DB) Remember(keys []string, now, until time.Time) (wait func() error) {
	return db.queue.start(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketReplays)
		if err != nil {
			return err
		}
		if err := sweepReplays(b, now); err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Put([]byte(k), itob(uint64(until.UnixNano()))); err != nil {
				return err
			}
		}
		return nil
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
