//go:build unix

package storage

import (
	"os"
	"syscall"
)

// unlockFile lets go of bbolt's lock (flock) on f. Closing f is not
// enough while bbolt's map of the file holds it open.
func unlockFile(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
