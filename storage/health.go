package storage

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Size returns the size of the store's data in bytes, as a read
// transaction sees it. It fails once the store is closed, which makes it
// the store's readiness check too.
func (db *DB) Size(ctx context.Context) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("the store %s: %w", db.bolt.Path(), err)
	}
	return n, nil
}
