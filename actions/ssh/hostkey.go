package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TrustedKey is a host key accepted on first use, reported so that it can
// be audited: nobody checked it, infrabot took the host's word for it.
type TrustedKey struct {
	Host        string // as written in known_hosts: host, or [host]:port
	Type        string // ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa…
	Fingerprint string // SHA256:…
	File        string // the known_hosts file it was added to, if any
}

// HostKeyError is a host key infrabot refused. Its message names the key
// the host offered by fingerprint, and the key expected when there is one,
// so a person can compare it with the server's console.
type HostKeyError struct {
	Host        string
	Type        string
	Fingerprint string // of the key the host offered
	// Reason is "unknown" (nothing on record for the host), "changed"
	// (the host offered a different key than the one on record) or
	// "revoked" (the key is marked @revoked).
	Reason string
	// Expected lists the keys on record: "type SHA256:… (file:line)".
	Expected []string
}

// HostKeyRefused reports that the host's key was refused: a caller
// waiting for a host to come up stops, since a refused key does not fix
// itself (deploy's bootstrap asks this of errors).
func (e *HostKeyError) HostKeyRefused() bool { return true }

func (e *HostKeyError) Error() string {
	offered := e.Type + " " + e.Fingerprint
	switch e.Reason {
	case "changed":
		return fmt.Sprintf("the host key of %s has changed: it offers %s but %s is on record. Refusing to connect: this can be a man-in-the-middle. If the server was rebuilt, check its new key on its console and replace the old one", e.Host, offered, strings.Join(e.Expected, ", "))
	case "revoked":
		return fmt.Sprintf("the host key of %s (%s) is revoked; refusing to connect", e.Host, offered)
	default:
		return fmt.Sprintf("the host key of %s is not known (it offers %s); refusing to connect. Check the key on the server's console, then add it to known_hosts or pin it under ssh.host_keys", e.Host, offered)
	}
}

// hostKeys verifies host keys against keys pinned in config, known_hosts
// files and, when trust on first use is on, keys learned on first contact.
type hostKeys struct {
	pinned  map[string][]ssh.PublicKey // by knownhosts.Normalize(address)
	files   ssh.HostKeyCallback        // nil when no file is configured
	learnTo string                     // known_hosts file where learned keys are appended
	tofu    bool
	onTrust func(TrustedKey)

	mu      sync.Mutex
	learned map[string]ssh.PublicKey
}

func newHostKeys(cfg *Config) (*hostKeys, error) {
	h := &hostKeys{
		pinned:  map[string][]ssh.PublicKey{},
		tofu:    cfg.TrustOnFirstUse,
		onTrust: cfg.OnTrust,
		learned: map[string]ssh.PublicKey{},
	}
	for i, line := range cfg.HostKeys {
		hosts, key, err := parsePinned(line)
		if err != nil {
			return nil, fmt.Errorf("pinned host key %d: %w", i+1, err)
		}
		for _, host := range hosts {
			n := knownhosts.Normalize(host)
			h.pinned[n] = append(h.pinned[n], key)
		}
	}
	var files []string
	for _, f := range cfg.KnownHosts {
		if _, err := os.Stat(f); err != nil {
			if errors.Is(err, os.ErrNotExist) && cfg.TrustOnFirstUse {
				continue // created when the first key is learned
			}
			return nil, fmt.Errorf("known_hosts file %s: %v", f, unwrapPath(err))
		}
		files = append(files, f)
	}
	if len(files) > 0 {
		cb, err := knownhosts.New(files...)
		if err != nil {
			return nil, fmt.Errorf("reading known_hosts: %v", err)
		}
		h.files = cb
	}
	if len(cfg.KnownHosts) > 0 {
		h.learnTo = cfg.KnownHosts[0]
	}
	if len(h.pinned) == 0 && h.files == nil && !h.tofu {
		return nil, errors.New("no way to verify host keys: give a known_hosts file, pin keys under host_keys, or turn on trust_on_first_use")
	}
	return h, nil
}

// parsePinned reads a pinned key written as a known_hosts line:
// "host[,host…] type base64". Host patterns, hashed names and markers are
// for known_hosts files; a pinned line names hosts plainly.
func parsePinned(line string) ([]string, ssh.PublicKey, error) {
	marker, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
	if err != nil {
		return nil, nil, fmt.Errorf("not a known_hosts line (host type key): %v", err)
	}
	if marker != "" {
		return nil, nil, fmt.Errorf("markers such as @%s belong in a known_hosts file", marker)
	}
	for _, h := range hosts {
		if strings.ContainsAny(h, "*?!|") {
			return nil, nil, fmt.Errorf("%q: a pinned key names its host plainly (no patterns or hashes)", h)
		}
	}
	return hosts, key, nil
}

// check is the ssh.HostKeyCallback.
func (h *hostKeys) check(address string, remote net.Addr, key ssh.PublicKey) error {
	host := knownhosts.Normalize(address)
	refuse := func(reason string, expected []string) error {
		return &HostKeyError{Host: host, Type: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), Reason: reason, Expected: expected}
	}
	if keys, ok := h.pinned[host]; ok {
		var want []string
		for _, k := range keys {
			if sameKey(k, key) {
				return nil
			}
			want = append(want, describe(k, "pinned in config"))
		}
		return refuse("changed", want)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if k, ok := h.learned[host]; ok {
		if sameKey(k, key) {
			return nil
		}
		return refuse("changed", []string{describe(k, "learned on first use")})
	}
	if h.files != nil {
		err := h.files(address, tcpAddr(remote), key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &re):
			return refuse("revoked", nil)
		case errors.As(err, &ke) && len(ke.Want) > 0:
			want := make([]string, len(ke.Want))
			for i, w := range ke.Want {
				want[i] = describe(w.Key, fmt.Sprintf("%s:%d", w.Filename, w.Line))
			}
			return refuse("changed", want)
		case errors.As(err, &ke):
			// Nothing on record: unknown, handled below.
		default:
			return err
		}
	}
	if !h.tofu {
		return refuse("unknown", nil)
	}
	return h.learn(host, key)
}

// learn records a key on first use; h.mu is held.
func (h *hostKeys) learn(host string, key ssh.PublicKey) error {
	t := TrustedKey{Host: host, Type: key.Type(), Fingerprint: ssh.FingerprintSHA256(key)}
	if h.learnTo != "" {
		f, err := os.OpenFile(h.learnTo, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("recording the host key of %s: %v", host, unwrapPath(err))
		}
		_, err = fmt.Fprintln(f, knownhosts.Line([]string{host}, key))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("recording the host key of %s: %v", host, err)
		}
		t.File = h.learnTo
	}
	h.learned[host] = key
	if h.onTrust != nil {
		h.onTrust(t)
	}
	return nil
}

// algorithms returns the host key algorithms to ask the host for, so that
// a host known by its ed25519 key is not asked for its RSA key (which
// would look like a changed key). Nil means the library's defaults.
func (h *hostKeys) algorithms(address string) []string {
	host := knownhosts.Normalize(address)
	keys := h.pinned[host]
	h.mu.Lock()
	if k, ok := h.learned[host]; ok {
		keys = append(keys, k)
	}
	h.mu.Unlock()
	if h.files != nil && len(keys) == 0 {
		var ke *knownhosts.KeyError
		if err := h.files(address, &net.TCPAddr{}, probeKey); errors.As(err, &ke) {
			for _, w := range ke.Want {
				keys = append(keys, w.Key)
			}
		}
	}
	var algos []string
	for _, k := range keys {
		switch t := k.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// probeKey is a key no host has, used to ask known_hosts which keys it
// holds for a host.
var probeKey = func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
}()

func sameKey(a, b ssh.PublicKey) bool {
	return a.Type() == b.Type() && string(a.Marshal()) == string(b.Marshal())
}

func describe(k ssh.PublicKey, where string) string {
	return fmt.Sprintf("%s %s (%s)", k.Type(), ssh.FingerprintSHA256(k), where)
}

// tcpAddr gives knownhosts the *net.TCPAddr it insists on; through a jump
// host the address is the channel's, and the host name is what is checked.
func tcpAddr(a net.Addr) net.Addr {
	if _, ok := a.(*net.TCPAddr); ok {
		return a
	}
	return &net.TCPAddr{}
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
