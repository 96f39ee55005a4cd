package storage

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/actions"
)

// ModuleStore returns module name's store: a bucket of its own under
// "modules" holding the buckets it declares, created when missing, so a
// store written before the module existed gains them on open.
func (db *DB) ModuleStore(name string, buckets []string) (actions.Store, error) {
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		mb, err := tx.Bucket(bucketModules).CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		for _, b := range buckets {
			if b == "" {
				return fmt.Errorf("a bucket needs a name")
			}
			if _, err := mb.CreateBucketIfNotExists([]byte(b)); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("preparing the storage of module %s: %w", name, err)
	}
	return &moduleStore{db: db, name: []byte(name), buckets: slices.Clone(buckets)}, nil
}

type moduleStore struct {
	db      *DB
	name    []byte
	buckets []string
}

func (s *moduleStore) Update(ctx context.Context, fn func(actions.Tx) error) error {
	return s.db.update(ctx, func(tx *bolt.Tx) error { return fn(s.tx(tx)) })
}

func (s *moduleStore) View(ctx context.Context, fn func(actions.Tx) error) error {
	return s.db.view(ctx, func(tx *bolt.Tx) error { return fn(s.tx(tx)) })
}

func (s *moduleStore) tx(tx *bolt.Tx) moduleTx {
	return moduleTx{b: tx.Bucket(bucketModules).Bucket(s.name), declared: s.buckets}
}

type moduleTx struct {
	b        *bolt.Bucket
	declared []string
}

func (t moduleTx) Bucket(name string) actions.Bucket {
	if t.b == nil || !slices.Contains(t.declared, name) {
		return nil
	}
	if b := t.b.Bucket([]byte(name)); b != nil {
		return b
	}
	return nil
}

// LastRun returns when the scheduled job last fired; ok is false when it
// never has.
func (db *DB) LastRun(ctx context.Context, job string) (t time.Time, ok bool, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSchedules).Get([]byte(job))
		if v == nil {
			return nil
		}
		ok = true
		return t.UnmarshalBinary(v)
	})
	return t, ok, err
}

// SetLastRun records that the scheduled job fired at t.
func (db *DB) SetLastRun(ctx context.Context, job string, t time.Time) error {
	v, err := t.UTC().MarshalBinary()
	if err != nil {
		return err
	}
	return db.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bucketSchedules).Put([]byte(job), v) })
}
