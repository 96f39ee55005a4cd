//go:build unix

package storage_test

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/infrabot/infrabot/storage"
)

// The store's socket is private from the moment it exists, whatever the
// process's umask: made private by a chmod after creating it, it was
// open to any local user in between. The umask is put back after.
// Not parallel: the umask is the process's.
func TestStoreSocketIsPrivateFromItsCreation(t *testing.T) {
	was := syscall.Umask(0) // the most open umask there is
	defer syscall.Umask(was)
	path := filepath.Join(t.TempDir(), "infrabot.db.sock")
	ln, err := storage.ListenPrivate(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK || st.Mode&0o077 != 0 {
		t.Errorf("the socket was created with mode %o: others may connect", st.Mode&0o7777)
	}
	if now := syscall.Umask(0); now != 0 {
		t.Errorf("the umask is %o after listening, want it put back (0)", now)
	}
}
