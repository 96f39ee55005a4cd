//go:build !unix

package storage

import "net"

// listenPrivate listens on a unix socket at path; where there is no umask
// the socket is made private by the chmod that follows.
func listenPrivate(path string) (net.Listener, error) {
	return net.Listen("unix", path)
}
