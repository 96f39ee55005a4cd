//go:build !unix

package storage

import "os"

// unlockFile does nothing: on Windows, bbolt's lock (LockFileEx) goes
// with the handle, when f is closed.
func unlockFile(f *os.File) {}
