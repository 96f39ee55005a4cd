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
// store, at the speed of the local disk, ends the transaction, and
// streams that file at the reader's pace.

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
	snap, err := os.CreateTemp(filepath.Dir(db.bolt.Path()), "."+filepath.Base(db.bolt.Path())+".backup-*")
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
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	// Not synced: the file is read back from the page cache and removed;
	// the backup's own copy is synced where it is written.
	_, err = tx.WriteTo(snap)
	tx.Rollback()
	if err == nil {
		_, err = snap.Seek(0, io.SeekStart)
	}
	if err == nil {
		_, err = io.Copy(&deadlineWriter{w: w, rc: rc, stall: db.backupStall}, io.LimitReader(snap, size))
	}
	if err != nil {
		// The status line is gone already: the client sees a short body.
		panic(http.ErrAbortHandler)
	}
}

// deadlineWriter gives every write to w stall to complete: each write
// moves the connection's write deadline, so only a reader that takes
// nothing for stall is cut off.
type deadlineWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	stall time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.rc.SetWriteDeadline(time.Now().Add(d.stall)); err != nil {
		return 0, err
	}
	return d.w.Write(p)
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
