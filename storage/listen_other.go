//go:build !unix

package storage

import (
	"net"
	"os"
)

// listenPrivate listens on a unix socket at path that only the process's
// user may connect to. Where there is no umask to create it private, it
// is made private by a chmod right after.
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
