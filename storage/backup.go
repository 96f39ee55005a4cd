package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// An online backup is one read transaction's view of the store, written
// out by bbolt (Tx.WriteTo): consistent, taken while infrabot keeps
// running and writing. The process that holds the store streams it over
// its local socket (GET /backup); when nobody holds the store, the file
// is opened read-only and copied the same way.
//
// The holder does not stream from the read transaction: while one is
// open bbolt cannot remap the file, so a write that grows the store
// waits for it, and every read begun after that write waits too (the
// readiness check among them). It writes the copy to a file beside the
// store, at the speed of the local disk, and ends the transaction; the
// reader is sent that file as far as it is written, at the reader's pace,
// from the first page on, so that a copy slow to write is not mistaken
// for a stuck holder by a tool that gives up on silence.

// BackupStall is how long a backup's reader may take nothing before the
// stream is cut. A reader that stops (a suspended `infrabot backup`, a
// full disk) must not keep the copy beside the store, and its space, for
// ever; a slow one that keeps reading is never cut. Tools asking the
// holder give up on it after as long a silence (holderPatience).
const BackupStall = 30 * time.Second

// serveBackup streams a consistent copy of the store. The status line
// goes out as soon as the read transaction is open; a copy that then
// fails ends the stream short, which the client reports.
func (db *DB) serveBackup(w http.ResponseWriter, r *http.Request) {
	snap, err := os.CreateTemp(filepath.Dir(db.bolt.Path()), copyPrefix(db.bolt.Path())+"*")
	if err != nil {
		http.Error(w, fmt.Sprintf("copying the store beside it: %v", err), http.StatusInternalServerError)
		return
	}
	defer os.Remove(snap.Name())
	defer snap.Close() // before the remove: Windows removes no open file
	tx, err := db.bolt.Begin(false)
	if err != nil {
		http.Error(w, fmt.Sprintf("reading the store: %v", err), http.StatusInternalServerError)
		return
	}
	size := tx.Size()
	sp := newSpool(snap, db.backupWrote)
	go func() {
		// Not synced: the file is read back from the page cache and
		// removed; the backup's own copy is synced where it is written.
		_, err := tx.WriteTo(sp)
		tx.Rollback()
		sp.end(err)
	}()
	defer sp.stop() // first: the copy ends before its file goes
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	_, err = io.Copy(&deadlineWriter{w: w, rc: rc, stall: db.backupStall}, io.LimitReader(sp, size))
	if err != nil {
		// The status line is gone already: the client sees a short body.
		panic(http.ErrAbortHandler)
	}
}

// copyPrefix begins the name of a backup's copy beside the store at
// path; os.CreateTemp ends it with decimal digits.
func copyPrefix(path string) string { return "." + filepath.Base(path) + ".backup-" }

// LeftCopy is a backup's copy a killed or crashed process left beside
// the store, which Open removed (Err nil) or could not (Err says why).
type LeftCopy struct {
	Path string
	Err  error
}

// LeftCopies returns the copies beside the store that Open found left by
// backups whose process ended during them, for the caller to log.
func (db *DB) LeftCopies() []LeftCopy { return db.left }

// removeLeftCopies removes the copies beside the store at path that
// backups left when their process was killed or crashed: each is as big
// as the store. Only the process that holds the store writes them, so the
// caller, which has just taken bbolt's lock on it, may remove them all.
func removeLeftCopies(path string) []LeftCopy {
	dir, prefix := filepath.Dir(path), copyPrefix(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []LeftCopy{{Path: dir, Err: fmt.Errorf("cannot look for backup copies left beside the store: %w", err)}}
	}
	var out []LeftCopy
	for _, e := range entries {
		digits, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		out = append(out, LeftCopy{Path: name, Err: os.Remove(name)})
	}
	return out
}

// errBackupGone stops a copy whose reader is gone.
var errBackupGone = errors.New("the backup's reader is gone")

// spool is a backup's copy beside the store, written at the disk's pace
// and read back, as far as it is written, at the reader's: the copy, and
// the read transaction it holds, never wait for the reader.
type spool struct {
	f     *os.File
	wrote func() // after each write; a test slows the copy with it
	ended chan struct{}
	off   int64 // how far it is read: the reader's own

	mu   sync.Mutex
	more sync.Cond // n or done changed
	n    int64     // how far it is written
	done bool
	err  error // why the copy failed
	gone bool  // the reader is: the copy is to stop
}

func newSpool(f *os.File, wrote func()) *spool {
	s := &spool{f: f, wrote: wrote, ended: make(chan struct{})}
	s.more.L = &s.mu
	return s
}

func (s *spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	gone := s.gone
	s.mu.Unlock()
	if gone {
		return 0, errBackupGone
	}
	n, err := s.f.Write(p)
	s.mu.Lock()
	s.n += int64(n)
	s.more.Broadcast()
	s.mu.Unlock()
	if s.wrote != nil {
		s.wrote()
	}
	return n, err
}

// end says the copy is written, or failed with err.
func (s *spool) end(err error) {
	s.mu.Lock()
	s.done, s.err = true, err
	s.more.Broadcast()
	s.mu.Unlock()
	close(s.ended)
}

// stop tells the copy to stop, if it still goes on, and waits for its
// end: the read transaction is over once stop returns.
func (s *spool) stop() {
	s.mu.Lock()
	s.gone = true
	s.mu.Unlock()
	<-s.ended
}

// Read returns what is written and not yet read, waiting for the copy to
// write more, and the copy's error once it is all read.
func (s *spool) Read(p []byte) (int, error) {
	s.mu.Lock()
	for s.off >= s.n && !s.done {
		s.more.Wait()
	}
	n, err := s.n, s.err
	s.mu.Unlock()
	if s.off >= n {
		if err == nil {
			err = io.EOF
		}
		return 0, err
	}
	m, err := s.f.ReadAt(p[:min(int64(len(p)), n-s.off)], s.off)
	s.off += int64(m)
	return m, err
}

// deadlineWriter gives every write to w stall to complete: each write
// moves the connection's write deadline, so only a reader that takes
// nothing for stall is cut off. Each write is sent at once, not left in
// a buffer while the copy it comes from pauses.
type deadlineWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	stall time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.rc.SetWriteDeadline(time.Now().Add(d.stall)); err != nil {
		return 0, err
	}
	n, err := d.w.Write(p)
	if err == nil {
		err = d.rc.Flush()
	}
	return n, err
}

// BackupAt writes a consistent copy of the store at path to dst, whether
// or not another infrabot holds it, and returns its size. dst must not
// exist; it appears only once complete (written beside it, synced, then
// renamed), so a failed backup leaves nothing that looks like one.
func BackupAt(ctx context.Context, path, dst string) (int64, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("there is no store at %s: check storage.path in the config", path)
	}
	if _, err := os.Lstat(dst); err == nil {
		return 0, fmt.Errorf("%s exists already: remove it, or give the backup another name", dst)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".partial-*")
	if err != nil {
		return 0, fmt.Errorf("writing the backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing to remove
	n, err := backupTo(ctx, path, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return 0, fmt.Errorf("writing the backup %s: %w", dst, err)
	}
	return n, nil
}

func backupTo(ctx context.Context, path string, w io.Writer) (int64, error) {
	if n, asked, err := fetchBackup(ctx, SocketPath(path), w); asked {
		return n, err
	}
	b, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: OpenTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return 0, fmt.Errorf("the store %s is in use by another process that does not answer on %s (an older infrabot?); stop it to back up the file", path, SocketPath(path))
	}
	if err != nil {
		return 0, fmt.Errorf("opening the store %s read-only: %w", path, err)
	}
	defer b.Close()
	var n int64
	err = b.View(func(tx *bolt.Tx) error {
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// fetchBackup asks the process serving socket for a copy of the store.
// asked is false when nobody answers there.
func fetchBackup(ctx context.Context, socket string, w io.Writer) (n int64, asked bool, err error) {
	resp, asked, err := ask(ctx, socket, "/backup")
	if resp == nil {
		return 0, asked, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, true, fmt.Errorf("the infrabot that holds the store answered %s (an older infrabot without online backup?)", resp.Status)
	}
	n, err = io.Copy(w, resp.Body)
	if err := holderSilent(socket, err); err != nil {
		return n, true, err
	}
	if err != nil {
		return n, true, fmt.Errorf("copying the store from the infrabot that holds it: %w", err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, true, fmt.Errorf("the copy is short: %d of %d bytes", n, resp.ContentLength)
	}
	return n, true, nil
}
