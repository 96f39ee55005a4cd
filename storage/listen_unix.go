//go:build unix

package storage

import (
	"net"
	"sync"
	"syscall"
)

// umaskMu serialises the umask changes of listenPrivate: the umask is the
// process's, not the goroutine's.
var umaskMu sync.Mutex

// listenPrivate listens on a unix socket at path that only the process's
// user may connect to from the moment it exists: the socket is created
// under the umask 0077, rather than made private by a chmod after, which
// left a moment when anyone could connect. It comes out srwx------: the
// execute bit means nothing on a socket (connecting needs write), and a
// stricter umask would make a directory that another goroutine creates
// in that moment unusable. The umask is the process's: a file another
// goroutine creates in that moment is made private too, never more open.
func listenPrivate(path string) (net.Listener, error) {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	return net.Listen("unix", path)
}
