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
// open to any local user in between. The socket ServeLocal serves on is
// made that way and left so. The umask is put back after.
// Not parallel: the umask is the process's.
func TestStoreSocketIsPrivateFromItsCreation(t *testing.T) {
	was := syscall.Umask(0) // the most open umask there is
	defer syscall.Umask(was)
	dir := t.TempDir()
	private := func(what, path string) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK || st.Mode&0o077 != 0 {
			t.Errorf("%s has mode %o: others may connect", what, st.Mode&0o7777)
		}
	}

	// As it is created: nothing has had a chance to chmod it.
	ln, err := storage.ListenPrivate(filepath.Join(dir, "bare.sock"))
	if err != nil {
		t.Fatal(err)
	}
	private("a socket as it is created", filepath.Join(dir, "bare.sock"))
	ln.Close()

	path := filepath.Join(dir, "infrabot.db")
	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv, err := db.ServeLocal(storage.SocketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	private("the store's socket", storage.SocketPath(path))

	if now := syscall.Umask(0); now != 0 {
		t.Errorf("the umask is %o after listening, want it put back (0)", now)
	}
}
