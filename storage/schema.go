package storage

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout of the store this infrabot writes. Opening a
// store of an older layout upgrades it in place, in one transaction;
// opening one of a newer layout is refused, so that an older binary never
// misreads what a newer one wrote.
//
//	1  audit, runs, locks, meta (and the open-runs index)
//	2  schedules (jobs' last runs), modules (a bucket per module, holding
//	   the buckets it declares); an approval request keeps a list of its
//	   message copies instead of one
//	3  run-events (a run's progress as an append-only log, one nested
//	   bucket per run; runs written before keep their steps in their
//	   record) and replays (chat deliveries already accepted); both are
//	   created when first written. replay-log (deliveries accepted, in
//	   the order they expire) came later without a new version: it is
//	   created when first written, and a binary that does not know it
//	   ignores it, forgetting only the last ten minutes' deliveries
const SchemaVersion = 3

var (
	keySchema       = []byte("schema-version")
	bucketSchedules = []byte("schedules")
	bucketModules   = []byte("modules")
)

// migrations[v] upgrades a store from version v to v+1.
var migrations = map[uint64]func(*bolt.Tx) error{
	1: migrateApprovalMessages,
}

// prepare brings a store of any known version to SchemaVersion: it creates
// the buckets of a new file and runs the migrations an older one needs.
func prepare(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	version := uint64(SchemaVersion)
	switch {
	case meta != nil && meta.Get(keySchema) != nil:
		version = btoi(meta.Get(keySchema))
	case tx.Bucket(bucketAudit) != nil:
		version = 1 // written before versions were recorded
	}
	if version > SchemaVersion {
		return fmt.Errorf("it was written by a newer infrabot (store layout %d; this one knows up to %d): upgrade infrabot, or restore a backup made by this version", version, SchemaVersion)
	}
	for _, name := range [][]byte{bucketAudit, bucketRuns, bucketLocks, bucketMeta, bucketSchedules, bucketModules} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	if tx.Bucket(bucketOpen) == nil {
		if err := indexOpenRuns(tx); err != nil {
			return err
		}
	}
	if err := moveOldReplays(tx, time.Now()); err != nil {
		return fmt.Errorf("moving the remembered deliveries to the replay log: %w", err)
	}
	for ; version < SchemaVersion; version++ {
		if m := migrations[version]; m != nil {
			if err := m(tx); err != nil {
				return fmt.Errorf("upgrading the store from layout %d: %w", version, err)
			}
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, itob(SchemaVersion))
}

// migrateApprovalMessages turns an approval's one message reference
// ("Message") into the list of copies ("Messages").
func migrateApprovalMessages(tx *bolt.Tx) error {
	b := tx.Bucket(bucketRuns)
	type change struct{ k, v []byte }
	var changes []change
	err := b.ForEach(func(k, v []byte) error {
		var run map[string]json.RawMessage
		if err := json.Unmarshal(v, &run); err != nil {
			return fmt.Errorf("decoding run %d: %w", btoi(k), err)
		}
		raw, ok := run["Approval"]
		if !ok || string(raw) == "null" {
			return nil
		}
		var approval map[string]json.RawMessage
		if err := json.Unmarshal(raw, &approval); err != nil {
			return fmt.Errorf("decoding the approval of run %d: %w", btoi(k), err)
		}
		msg, ok := approval["Message"]
		if !ok {
			return nil
		}
		delete(approval, "Message")
		if string(msg) != "null" {
			approval["Messages"] = json.RawMessage("[" + string(msg) + "]")
		}
		var err error
		if run["Approval"], err = json.Marshal(approval); err != nil {
			return err
		}
		out, err := json.Marshal(run)
		if err != nil {
			return err
		}
		changes = append(changes, change{append([]byte(nil), k...), out})
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range changes {
		if err := b.Put(c.k, c.v); err != nil {
			return err
		}
	}
	return nil
}
