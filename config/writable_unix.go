//go:build unix

package config

import "syscall"

// writable reports why the process may not write path, or nil.
func writable(path string) error {
	if err := syscall.Access(path, 2 /* W_OK */); err != nil {
		return err
	}
	return nil
}
