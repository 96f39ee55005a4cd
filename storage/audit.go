package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/actions"
)

// auditHead is kept beside the log so that removing its last records is
// detected too: the chain alone cannot tell a short log from a cut one.
type auditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Append seals e after the last record and stores it.
func (db *DB) Append(ctx context.Context, e actions.AuditEntry) (actions.AuditEntry, error) {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		prev, err := db.lastHead(tx, b)
		if err != nil {
			return err
		}
		e.Time = e.Time.UTC()
		record := e.SealEncoded(prev) // sets e.Seq
		if err := b.Put(itob(e.Seq), record); err != nil {
			return err
		}
		head := auditHead{Seq: e.Seq, Hash: e.Hash}
		if err := tx.Bucket(bucketMeta).Put(keyAuditHead, head.encode()); err != nil {
			return err
		}
		db.head = head
		return nil
	})
	return e, err
}

// encode is the head's JSON, as encoding/json writes it: its hash is the
// hex that sealing gave.
func (h auditHead) encode() []byte {
	b := strconv.AppendUint(append(make([]byte, 0, 96), `{"seq":`...), h.Seq, 10)
	return append(append(append(b, `,"hash":"`...), h.Hash...), `"}`...)
}

// lastHead is the record to seal after in tx (nil: the log is empty):
// the head kept in memory when it names the log's last key, else the
// head read from disk. Only the store's committer appends, so db.head
// needs no lock; a transaction rolled back leaves it naming a key the log
// no longer ends at, and the disk answers until the next append.
func (db *DB) lastHead(tx *bolt.Tx, b *bolt.Bucket) (*actions.AuditEntry, error) {
	k, _ := b.Cursor().Last()
	if k == nil {
		return nil, nil
	}
	if h := db.head; len(k) == 8 && h.Seq == btoi(k) && h.Hash != "" {
		return &actions.AuditEntry{Seq: h.Seq, Hash: h.Hash}, nil
	}
	return lastAudit(tx, b)
}

// lastAudit returns the sequence number and hash of the log's last
// record, all that sealing the next one needs (nil when the log is
// empty): from the head kept beside the log, which is written with every
// record, or from the record itself when the head is not there yet or
// does not name it.
func lastAudit(tx *bolt.Tx, b *bolt.Bucket) (*actions.AuditEntry, error) {
	k, v := b.Cursor().Last()
	if k == nil {
		return nil, nil
	}
	if len(k) != 8 {
		return nil, fmt.Errorf("the last audit record's key is %d bytes, not 8", len(k))
	}
	var head auditHead
	if raw := tx.Bucket(bucketMeta).Get(keyAuditHead); raw != nil && json.Unmarshal(raw, &head) == nil && head.Seq == btoi(k) && head.Hash != "" {
		return &actions.AuditEntry{Seq: head.Seq, Hash: head.Hash}, nil
	}
	prev := new(actions.AuditEntry)
	if err := json.Unmarshal(v, prev); err != nil {
		return nil, fmt.Errorf("decoding the last audit record: %w", err)
	}
	return prev, nil
}

// Tail returns the last n records, oldest first.
func (db *DB) Tail(ctx context.Context, n int) ([]actions.AuditEntry, error) {
	var out []actions.AuditEntry
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var e actions.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decoding audit record %d: %w", btoi(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// VerifyAudit checks the whole audit chain and returns how many records it
// holds. A broken chain gives an *actions.ChainError naming the first
// record that does not check out.
func (db *DB) VerifyAudit(ctx context.Context) (uint64, error) {
	var v actions.ChainVerifier
	err := db.view(ctx, func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketAudit).ForEach(func(k, raw []byte) error {
			var e actions.AuditEntry
			if err := json.Unmarshal(raw, &e); err != nil {
				return &actions.ChainError{Seq: btoi(k), Reason: "cannot be read: " + err.Error()}
			}
			if e.Seq != btoi(k) {
				return &actions.ChainError{Seq: btoi(k), Reason: fmt.Sprintf("holds record %d: records were moved or swapped", e.Seq)}
			}
			return v.Next(e)
		})
		if err != nil {
			return err
		}
		var head auditHead
		if raw := tx.Bucket(bucketMeta).Get(keyAuditHead); raw != nil {
			if err := json.Unmarshal(raw, &head); err != nil {
				return &actions.ChainError{Seq: 0, Reason: "the log's head record cannot be read"}
			}
		}
		last := v.Last()
		switch {
		case last == nil && head.Seq != 0:
			return &actions.ChainError{Seq: 1, Reason: fmt.Sprintf("missing: the log should hold %d records and holds none", head.Seq)}
		case last != nil && last.Seq == head.Seq && last.Hash != head.Hash:
			return &actions.ChainError{Seq: last.Seq, Reason: "was replaced: its hash differs from the one the log's head recorded"}
		case last != nil && last.Seq != head.Seq:
			return &actions.ChainError{Seq: last.Seq + 1, Reason: fmt.Sprintf("missing: the log should end at record %d but ends at %d", head.Seq, last.Seq)}
		}
		return nil
	})
	return v.Count(), err
}
