package storage

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/actions"
)

// bucketRunEvents holds one nested bucket per run (keyed by the run's id)
// with its progress events keyed by their sequence: appending one is a
// put at the end of a small B+tree, whatever the run already holds.
var bucketRunEvents = []byte("run-events")

// AppendRunEvents adds events to the end of run id's progress log, in one
// transaction, and gives them their Seq.
func (db *DB) AppendRunEvents(ctx context.Context, id int64, events ...actions.RunEvent) error {
	if len(events) == 0 {
		return nil
	}
	return db.update(ctx, func(tx *bolt.Tx) error {
		runKey := itob(uint64(id))
		if id <= 0 || tx.Bucket(bucketRuns).Get(runKey) == nil {
			return actions.Errorf(actions.NotFound, "there is no run %d", id)
		}
		all, err := tx.CreateBucketIfNotExists(bucketRunEvents)
		if err != nil {
			return err
		}
		b, err := all.CreateBucketIfNotExists(runKey)
		if err != nil {
			return err
		}
		// Keys only ever grow: fill pages whole instead of splitting them
		// in half.
		b.FillPercent = 1.0
		for _, ev := range events {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			ev.Seq = seq
			ev.Time = ev.Time.UTC()
			if err := putJSON(b, itob(seq), ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// RunEvents returns run id's events with Seq above after, oldest first, at
// most limit of them (0: all).
func (db *DB) RunEvents(ctx context.Context, id int64, after uint64, limit int) ([]actions.RunEvent, error) {
	var out []actions.RunEvent
	err := db.view(ctx, func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketRunEvents)
		if all == nil {
			return nil
		}
		b := all.Bucket(itob(uint64(id)))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(itob(after + 1)); k != nil; k, v = c.Next() {
			var ev actions.RunEvent
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("decoding event %d of run %d: %w", btoi(k), id, err)
			}
			out = append(out, ev)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	return out, err
}
