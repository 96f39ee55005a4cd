package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/infrabot/infrabot/actions"
)

// bbolt locks its file for one process: while `infrabot run` holds the
// store, no other process can open it, not even to read. So the process
// that holds it serves reads to the others over a unix socket beside the
// file (readable by the store's owner only), and tools such as `infrabot
// audit verify` ask it; when nobody holds the store they open it read-only
// themselves. A later `infrabot backup` can use the same socket.

// SocketPath is where the process holding the store at dbPath serves
// reads.
func SocketPath(dbPath string) string { return dbPath + ".sock" }

// LocalServer serves reads of a held store on its socket.
type LocalServer struct {
	srv  *http.Server
	path string
	done chan struct{}
}

// ServeLocal serves reads of db on the unix socket at path until Close.
// A socket left behind by a process that is gone is replaced: the caller
// holds the store, so nobody else can be serving it.
func (db *DB) ServeLocal(path string) (*LocalServer, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		os.Remove(path)
	}
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("serving the store's reads on %s: %w", path, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /audit/verify", db.serveVerify)
	mux.HandleFunc("GET /backup", db.serveBackup)
	s := &LocalServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		path: path, done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops serving, waits for reads in progress, and removes the
// socket.
func (s *LocalServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		// A read still going (a backup) is cut: the store is closing.
		s.srv.Close()
	}
	<-s.done
	os.Remove(s.path)
	return err
}

// serveVerify answers /audit/verify. The status line goes out at once and
// a blank line every third of the stall time while the chain is checked,
// so that the asking tool, which gives up on a holder that says nothing
// for that long (a stopped or stuck infrabot), waits as long as a long
// chain takes; JSON allows the blank lines before the verdict.
func (db *DB) serveVerify(w http.ResponseWriter, r *http.Request) {
	type result struct {
		n   uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := db.VerifyAudit(r.Context())
		done <- result{n, err}
	}()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	beat := time.NewTicker(db.backupStall / 3)
	defer beat.Stop()
	for {
		select {
		case res := <-done:
			writeVerdict(w, res.n, res.err)
			return
		case <-beat.C:
			w.Write([]byte("\n"))
			rc.Flush()
		}
	}
}

// verdict is the answer to /audit/verify.
type verdict struct {
	Records uint64 `json:"records"`
	// Broken, BrokenAt and Reason say where the chain breaks; Error is
	// any other failure.
	Broken   bool   `json:"broken,omitempty"`
	BrokenAt uint64 `json:"broken_at,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Error    string `json:"error,omitempty"`
}

func writeVerdict(w http.ResponseWriter, n uint64, err error) {
	v := verdict{Records: n}
	var chain *actions.ChainError
	switch {
	case errors.As(err, &chain):
		v.Broken, v.BrokenAt, v.Reason = true, chain.Seq, chain.Reason
	case err != nil:
		v.Error = err.Error()
	}
	json.NewEncoder(w).Encode(v)
}

// VerifyAuditAt checks the audit chain of the store at path, whether or
// not another process holds it, and never creates or changes anything:
// a missing path is an error. Like DB.VerifyAudit it returns how many
// records check out, and an *actions.ChainError where the chain breaks.
func VerifyAuditAt(ctx context.Context, path string) (uint64, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("there is no store at %s: check storage.path in the config (nothing was created)", path)
	case err != nil:
		return 0, fmt.Errorf("reading the store %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return 0, fmt.Errorf("%s is not a store file", path)
	}
	if n, asked, err := askHolder(ctx, SocketPath(path)); asked {
		return n, err
	}
	b, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: OpenTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return 0, fmt.Errorf("the store %s is in use by another process that does not answer on %s (an older infrabot?); stop it, or verify a backup", path, SocketPath(path))
	}
	if err != nil {
		return 0, fmt.Errorf("opening the store %s read-only: %w", path, err)
	}
	defer b.Close()
	return (&DB{bolt: b}).VerifyAudit(ctx)
}

// askHolder asks the process serving socket to verify the audit chain.
// asked is false when nobody answers there.
func askHolder(ctx context.Context, socket string) (n uint64, asked bool, err error) {
	resp, asked, err := ask(ctx, socket, "/audit/verify")
	if resp == nil {
		return 0, asked, err
	}
	defer resp.Body.Close()
	var v verdict
	err = json.NewDecoder(resp.Body).Decode(&v)
	if err := holderSilent(socket, err); err != nil {
		return 0, true, err
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, true, fmt.Errorf("the infrabot that holds the store answered %s", resp.Status)
	}
	switch {
	case v.Broken:
		return v.Records, true, &actions.ChainError{Seq: v.BrokenAt, Reason: v.Reason}
	case v.Error != "":
		return v.Records, true, fmt.Errorf("the infrabot that holds the store could not verify it: %s", v.Error)
	}
	return v.Records, true, nil
}

// holderPatience is how long a tool waits for the infrabot that holds
// the store: to connect, for the status line (which it sends at once, for
// a backup as soon as its read transaction is open), and for each next
// byte after (which a working holder sends sooner: a verify sends blank
// lines while it works, a backup its copy as far as it is written, so
// only a stopped or stuck holder, or a disk that stalls, is that silent).
// A holder that is stopped (kill -STOP, a debugger) or stuck still
// accepts connections, from the kernel's backlog, and would otherwise be
// waited for for ever, by a cron job with no deadline too. Shorter in
// tests.
var holderPatience = struct{ dial, answer, silence time.Duration }{
	dial:    5 * time.Second,
	answer:  10 * time.Second,
	silence: BackupStall,
}

// ask sends GET path to the infrabot serving socket, the one that holds
// the store. asked is false when nobody answers there: no socket, or one
// left behind by a process that is gone. The caller closes the body of
// the response it gets, and reads it through holderSilent.
func ask(ctx context.Context, socket, path string) (resp *http.Response, asked bool, err error) {
	if _, serr := os.Stat(socket); serr != nil {
		return nil, false, nil
	}
	wait := holderPatience
	c := &http.Client{Transport: &http.Transport{
		DisableKeepAlives:     true, // one request: its connection goes with the body
		ResponseHeaderTimeout: wait.answer,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: wait.dial}
			conn, err := d.DialContext(ctx, "unix", socket)
			if err != nil {
				return nil, err
			}
			return silenceConn{conn, wait.silence}, nil
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://store"+path, nil)
	if err != nil {
		return nil, true, err
	}
	resp, err = c.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, false, nil // a socket left behind by a process that is gone
		}
		if err := holderSilent(socket, err); err != nil {
			return nil, true, err
		}
		return nil, true, fmt.Errorf("asking the infrabot that holds the store: %w", err)
	}
	return resp, true, nil
}

// silenceConn fails a read once the other end has sent nothing for
// silence: each read moves the deadline, so only a pause counts, and the
// time the reader spends elsewhere (writing a backup out) does not.
type silenceConn struct {
	net.Conn
	silence time.Duration
}

func (c silenceConn) Read(p []byte) (int, error) {
	if err := c.SetReadDeadline(time.Now().Add(c.silence)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// holderSilent says, for an error that is a timeout, that the infrabot
// holding the store did not answer; it returns nil for any other error.
func holderSilent(socket string, err error) error {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return nil
	}
	return fmt.Errorf("the infrabot that holds the store did not answer on %s (is it stopped or stuck?): %w", socket, err)
}
