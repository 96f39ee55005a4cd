//go:build !unix

package storage

import (
	"net"
	"os"
)

// listenPrivate listens on a unix socket at path. Where there is no
// umask to create it private, its mode is set right after; on Windows,
// the one such system with unix sockets, that mode means little, and
// what keeps others out is the access control of the store's directory.
func listenPrivate(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
