package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// A store file cut short (a copy that stopped, a full disk, a bad
// restore) is not bbolt's to notice: it maps the file and reads past its
// end, which kills the process (SIGBUS), or trusts a page that is not
// there (panic: invalid freelist page). So before bbolt opens a file its
// length is checked against what its own meta pages say, and a panic of
// bbolt's while opening it comes back as an error.

// openBolt opens the store file at path with opts, refusing a file that
// is damaged.
func openBolt(path string, opts *bolt.Options) (b *bolt.DB, err error) {
	if err := checkLength(path); err != nil {
		return nil, err
	}
	var f *os.File
	o := *opts
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		var err error
		f, err = os.OpenFile(name, flag, perm)
		return f, err
	}
	returned := false
	err = survive(path, func() error {
		b, err = bolt.Open(path, 0o600, &o)
		returned = true
		return err
	})
	if !returned && f != nil {
		// bbolt panicked, its DB lost with the file open and locked:
		// let go of both, or the process could not open the file again
		// once mended in place. Its map of the file stays, out of
		// reach, until the process ends.
		unlockFile(f)
		f.Close()
	}
	return b, err
}

// survive runs fn, which reads the store file at path, and turns a panic
// that the file's damage causes in bbolt, or a fault reading its map,
// into an error. A bbolt that panicked may hold the file open and locked:
// the caller is to let go of it (openBolt does).
func survive(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(path, fmt.Sprint(r))
		}
	}()
	return fn()
}

func damaged(path, why string) error {
	return fmt.Errorf("the store file %s is damaged (truncated?): %s; restore it from a backup", path, why)
}

// bbolt's file format (go.etcd.io/bbolt, internal/common): each of the
// first two pages holds a meta record after the page's 16-byte header,
// in the machine's byte order, sealed by an FNV-64a sum of what precedes
// the sum. The valid one with the higher transaction id is the file's
// state; its high-water mark is the number of pages the file holds.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64 // the high-water mark: pages 0 to pgid-1 are in the file
	txid     uint64
}

// checkLength fails if the store file at path is shorter than its meta
// pages say. A file that is missing or empty, or has no valid meta page,
// is left to bbolt, which creates, initialises or refuses it.
func checkLength(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening the store %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("opening the store %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	meta, ok := readMeta(f, 0)
	var second boltMeta
	var ok2 bool
	if ok {
		second, ok2 = readMeta(f, int64(meta.pageSize))
	} else {
		// Where the second page starts depends on the page size, which
		// the first page would have said: try each one bbolt allows.
		for off := int64(1024); off <= 1024<<14 && off < size && !ok2; off *= 2 {
			second, ok2 = readMeta(f, off)
			ok2 = ok2 && int64(second.pageSize) == off
		}
	}
	if ok2 && (!ok || second.txid > meta.txid) {
		meta, ok = second, true
	}
	if !ok {
		return nil
	}
	if want := int64(meta.pgid) * int64(meta.pageSize); size < want {
		return damaged(path, fmt.Sprintf("it is %d bytes and should be at least %d", size, want))
	}
	return nil
}

// readMeta reads the meta record of the page at off, and whether it is a
// valid one.
func readMeta(f *os.File, off int64) (boltMeta, bool) {
	var page [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(page[:], off); err != nil {
		return boltMeta{}, false
	}
	m := page[pageHeaderSize:]
	order := binary.NativeEndian
	sum := fnv.New64a()
	sum.Write(m[:56])
	if order.Uint32(m[0:]) != boltMagic || order.Uint32(m[4:]) != boltVersion || sum.Sum64() != order.Uint64(m[56:]) {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: order.Uint32(m[8:]), pgid: order.Uint64(m[40:]), txid: order.Uint64(m[48:])}, true
}
