//go:build unix

package storage_test

import (
	"encoding/binary"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/infrabot/infrabot/storage"
)

// A store whose length checks out but whose freelist page is not one
// makes bbolt panic while opening it; the error that comes back leaves
// the file neither locked nor open, so a store mended in place can be
// opened by the same process.
func TestAStoreThatPanicsBboltIsLetGoOf(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 3)
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each meta page (16-byte page header, then the meta) gives the page
	// size at byte 8 of the meta and names its freelist page at byte 32;
	// a page's type is the two bytes at 8 of its header. Both freelist
	// pages are made branch pages (1).
	var buf [8]byte
	if _, err := f.ReadAt(buf[:4], 16+8); err != nil {
		t.Fatal(err)
	}
	pageSize := int64(binary.NativeEndian.Uint32(buf[:4]))
	for meta := int64(0); meta < 2; meta++ {
		if _, err := f.ReadAt(buf[:], meta*pageSize+16+32); err != nil {
			t.Fatal(err)
		}
		freelist := int64(binary.NativeEndian.Uint64(buf[:]))
		binary.NativeEndian.PutUint16(buf[:2], 1)
		if _, err := f.WriteAt(buf[:2], freelist*pageSize+8); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	_, err = storage.Open(path)
	if err == nil || !strings.Contains(err.Error(), "invalid freelist page") {
		t.Fatalf("%v, want the store refused for its freelist page", err)
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Errorf("the store is still locked after its open failed: %v", err)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		open := 0
		for _, fd := range fds {
			if target, _ := os.Readlink("/proc/self/fd/" + fd.Name()); target == path {
				open++
			}
		}
		if open != 1 { // the test's own
			t.Errorf("the store is open %d times after its open failed, want only the test's", open)
		}
	}
}
