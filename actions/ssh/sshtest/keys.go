// Package sshtest gives tests SSH servers to talk to: an in-process server
// built on golang.org/x/crypto/ssh that runs commands with /bin/sh as sshd
// does (Server), and a real OpenSSH sshd started on 127.0.0.1 with its own
// configuration, host key and authorized_keys in a temporary directory
// (StartSSHD).
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Key is an ed25519 key pair.
type Key struct {
	Signer ssh.Signer
	// PEM is the private key in OpenSSH's format, as a file would hold it.
	PEM []byte
}

// NewKey generates an ed25519 key pair.
func NewKey(t testing.TB) Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Signer: s, PEM: pem.EncodeToMemory(block)}
}

// Public returns the public key.
func (k Key) Public() ssh.PublicKey { return k.Signer.PublicKey() }

// AuthorizedKey returns the public key as an authorized_keys line.
func (k Key) AuthorizedKey() string {
	return string(ssh.MarshalAuthorizedKey(k.Public()))
}

// Fingerprint returns the SHA256 fingerprint of the public key.
func (k Key) Fingerprint() string { return ssh.FingerprintSHA256(k.Public()) }

// KnownHostsLine returns the known_hosts line for a host at addr with
// this key.
func (k Key) KnownHostsLine(addr string) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, k.Public())
}

// WriteKnownHosts writes a known_hosts file holding lines and returns its
// path.
func WriteKnownHosts(t testing.TB, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	var data []byte
	for _, l := range lines {
		data = append(data, l...)
		data = append(data, '\n')
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(fmt.Errorf("writing %s: %w", path, err))
	}
}
