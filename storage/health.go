package storage

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrBusy is the error of a read that could not begin before its context
// ended.
var ErrBusy = errors.New("busy: no read could begin in time")

// Size returns the size of the store's data in bytes, as a read
// transaction sees it. It fails once the store is closed, which makes it
// the store's readiness check too, and it answers when ctx ends even if
// the read has not begun: reads wait while a write remaps the file, and
// the write waits for the reads already open.
func (db *DB) Size(ctx context.Context) (int64, error) {
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1) // the read may finish after we stop waiting
	go func() {
		var n int64
		err := db.bolt.View(func(tx *bolt.Tx) error {
			n = tx.Size()
			return nil
		})
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return 0, fmt.Errorf("the store %s: %w", db.bolt.Path(), r.err)
		}
		return r.n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("the store %s: %w (%w)", db.bolt.Path(), ErrBusy, ctx.Err())
	}
}
