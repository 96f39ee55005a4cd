package simulator

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// keypair is a Nova key pair (an SSH public key the guest gets).
type keypair struct {
	id          int
	name        string
	publicKey   string
	fingerprint string
	created     time.Time
}

func (s *Simulator) findKeypair(name string) *keypair {
	for _, k := range s.keypairs {
		if k.name == name {
			return k
		}
	}
	return nil
}

func (s *Simulator) addKeypair(name, publicKey, fingerprint string, now time.Time) *keypair {
	id := 1
	if n := len(s.keypairs); n > 0 {
		id = s.keypairs[n-1].id + 1
	}
	k := &keypair{id: id, name: name, publicKey: publicKey, fingerprint: fingerprint, created: now}
	s.keypairs = append(s.keypairs, k)
	return k
}

func (s *Simulator) keypairView(k *keypair, v microversion, full bool) map[string]any {
	out := map[string]any{"name": k.name, "public_key": k.publicKey, "fingerprint": k.fingerprint}
	if v.atLeast(2) {
		out["type"] = "ssh"
	}
	if full {
		out["user_id"] = s.userID
		out["id"] = k.id
		out["created_at"] = k.created.UTC().Format(isoMicrosNoZone)
		out["updated_at"] = nil
		out["deleted"] = false
		out["deleted_at"] = nil
	}
	return out
}

func (s *Simulator) listKeypairs(w http.ResponseWriter, r *request, v microversion) {
	s.lockState()
	defer s.mu.Unlock()
	out := make([]any, 0, len(s.keypairs))
	for _, k := range s.keypairs {
		out = append(out, map[string]any{"keypair": s.keypairView(k, v, false)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"keypairs": out})
}

func keypairNotFound(name, userID string) *apiError {
	return notFound(fmt.Sprintf("Keypair %s not found for user %s", name, userID))
}

func (s *Simulator) showKeypair(w http.ResponseWriter, r *request, v microversion) {
	s.lockState()
	defer s.mu.Unlock()
	k := s.findKeypair(r.param("name"))
	if k == nil {
		writeError(w, computeSvc, keypairNotFound(r.param("name"), s.userID))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keypair": s.keypairView(k, v, true)})
}

func (s *Simulator) deleteKeypair(w http.ResponseWriter, r *request, v microversion) {
	s.lockState()
	defer s.mu.Unlock()
	for i, k := range s.keypairs {
		if k.name == r.param("name") {
			s.keypairs = append(s.keypairs[:i:i], s.keypairs[i+1:]...)
			if v.atLeast(2) {
				w.WriteHeader(http.StatusNoContent)
			} else {
				w.WriteHeader(http.StatusAccepted)
			}
			return
		}
	}
	writeError(w, computeSvc, keypairNotFound(r.param("name"), s.userID))
}

var keypairNameRE = regexp.MustCompile(`^[a-zA-Z0-9. _-]+$`)

// createKeypair imports the given public key or, without one (before
// 2.92), generates an RSA key pair and returns its private half once.
func (s *Simulator) createKeypair(w http.ResponseWriter, r *request, v microversion) {
	body, ok := readBody(r)
	var doc struct {
		Keypair *struct {
			Name      any     `json:"name"`
			PublicKey *string `json:"public_key"`
		} `json:"keypair"`
	}
	if !ok || json.Unmarshal(body, &doc) != nil {
		writeError(w, computeSvc, badRequest("Malformed request body"))
		return
	}
	if doc.Keypair == nil {
		writeError(w, computeSvc, badRequest("'keypair' is a required property"))
		return
	}
	name, isStr := doc.Keypair.Name.(string)
	if !isStr || name == "" || len(name) > 255 || !keypairNameRE.MatchString(name) ||
		strings.HasPrefix(name, " ") || strings.HasSuffix(name, " ") {
		writeError(w, computeSvc, schemaError("name", doc.Keypair.Name,
			pyRepr(doc.Keypair.Name)+" does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'"))
		return
	}
	var public, private, fingerprint string
	switch {
	case doc.Keypair.PublicKey != nil:
		public = strings.TrimSpace(*doc.Keypair.PublicKey)
		fp, valid := sshFingerprint(public)
		if !valid {
			writeError(w, computeSvc, badRequest("Keypair data is invalid: failed to generate fingerprint"))
			return
		}
		fingerprint = fp
	case v.atLeast(92):
		writeError(w, computeSvc, schemaError("keypair", map[string]any{"name": name}, "'public_key' is a required property"))
		return
	default:
		var err error
		public, private, fingerprint, err = generateKeypair()
		if err != nil {
			writeError(w, computeSvc, &apiError{status: http.StatusInternalServerError, msg: "Unexpected API Error."})
			return
		}
	}
	now := s.lockState()
	defer s.mu.Unlock()
	if s.findKeypair(name) != nil {
		writeError(w, computeSvc, &apiError{status: http.StatusConflict, msg: fmt.Sprintf("Key pair '%s' already exists.", name)})
		return
	}
	k := s.addKeypair(name, public, fingerprint, now)
	out := s.keypairView(k, v, false)
	out["user_id"] = s.userID
	if private != "" {
		out["private_key"] = private
	}
	status := http.StatusOK
	if v.atLeast(2) {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"keypair": out})
}

var sshKeyTypes = map[string]bool{
	"ssh-rsa": true, "ssh-dss": true, "ssh-ed25519": true,
	"ecdsa-sha2-nistp256": true, "ecdsa-sha2-nistp384": true, "ecdsa-sha2-nistp521": true,
}

// sshFingerprint checks an OpenSSH public key line ("type base64 [comment]")
// and returns its MD5 fingerprint in Nova's colon-separated form.
func sshFingerprint(line string) (string, bool) {
	f := strings.Fields(line)
	if len(f) < 2 || !sshKeyTypes[f[0]] {
		return "", false
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(blob) < 4 {
		return "", false
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n)+4 > uint64(len(blob)) || string(blob[4:4+n]) != f[0] {
		return "", false
	}
	sum := md5.Sum(blob)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":"), true
}

// generateKeypair makes an RSA key as Nova does: the public key in OpenSSH
// form and the private key as a PKCS#1 PEM block.
func generateKeypair() (public, private, fingerprint string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", "", err
	}
	var blob []byte
	blob = appendSSHString(blob, []byte("ssh-rsa"))
	blob = appendSSHString(blob, mpint(big.NewInt(int64(key.E))))
	blob = appendSSHString(blob, mpint(key.N))
	public = "ssh-rsa " + base64.StdEncoding.EncodeToString(blob) + " Generated-by-Nova"
	private = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	fingerprint, _ = sshFingerprint(public)
	return public, private, fingerprint, nil
}

func appendSSHString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// mpint encodes a positive integer as the SSH wire format wants it: big
// endian, with a zero byte in front when the top bit is set.
func mpint(n *big.Int) []byte {
	b := n.Bytes()
	if len(b) > 0 && b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return b
}
