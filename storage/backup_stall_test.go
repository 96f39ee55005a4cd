package storage_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/storage"
)

// grow appends n audit records of size bytes each.
func grow(db *storage.DB, n, size int) error {
	detail := strings.Repeat("x", size)
	for range n {
		if _, err := db.Append(context.Background(), actions.AuditEntry{Person: "bob", Event: "request", Detail: detail}); err != nil {
			return err
		}
	}
	return nil
}

// startBackup asks the store served at socket for a backup and reads its
// status line, then nothing more: a reader that stopped (a suspended
// `infrabot backup`, a full disk). The caller closes it.
func startBackup(t *testing.T, socket string) net.Conn {
	t.Helper()
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprint(conn, "GET /backup HTTP/1.1\r\nHost: store\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("the backup began with %q, %v", status, err)
	}
	return conn
}

// While a backup streams to a reader that stopped reading, the store
// goes on: writes that grow the file past bbolt's map, and the reads
// after them, do not wait for the reader. The backup holds no read
// transaction while it streams (bbolt cannot remap under one, and a read
// begun after a write waiting to remap waits too); it streams a copy
// taken beside the store.
func TestBackupToAStoppedReaderHoldsUpNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "infrabot.db")
	db, err := storage.OpenWithSmallMap(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := grow(db, 64, 64<<10); err != nil { // 4 MiB: more than the socket buffers hold
		t.Fatal(err)
	}
	db.SetBackupStall(time.Hour) // never cut while this test runs
	srv, err := db.ServeLocal(storage.SocketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn := startBackup(t, storage.SocketPath(path))
	defer conn.Close() // before the server's: it waits for the backup

	for deadline := time.Now().Add(20 * time.Second); db.OpenReads() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the backup's read transaction is still open 20s after its reader stopped")
		}
	}
	wrote := make(chan error, 1)
	go func() { wrote <- grow(db, 128, 64<<10) }() // 8 MiB more: past the map
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("writes still wait after 20s for a backup whose reader stopped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.Size(ctx); err != nil {
		t.Errorf("the store's readiness during a backup: %v", err)
	}
}

// A backup whose reader stops reading is cut off once it has taken
// nothing for the stall time, and the copy it streamed from, beside the
// store, goes with it.
func TestBackupCutsOffAReaderThatStopsReading(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 0)
	defer db.Close()
	if err := grow(db, 64, 64<<10); err != nil { // 4 MiB: more than the socket buffers hold
		t.Fatal(err)
	}
	db.SetBackupStall(100 * time.Millisecond)
	srv, err := db.ServeLocal(storage.SocketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn := startBackup(t, storage.SocketPath(path))
	defer conn.Close()

	// The reader reads nothing from here on.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if names := besideStore(t, path); len(names) == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("20s after its reader stopped, the backup still streams from %v", names)
		}
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader("HTTP/1.1 200 OK\r\n"), conn)), nil)
	if err == nil {
		var n int64
		n, err = io.Copy(io.Discard, resp.Body)
		if err == nil && n == resp.ContentLength {
			t.Errorf("the whole copy (%d bytes) came through after the stream was cut", n)
		}
	}
}

// besideStore returns the files in the store's directory other than the
// store, its socket, and what the test put there.
func besideStore(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); n != filepath.Base(path) && n != filepath.Base(storage.SocketPath(path)) {
			names = append(names, n)
		}
	}
	return names
}

// A backup whose copy beside the store takes longer to write than a tool
// waits for a silent holder (a big store, a slow disk) is not given up
// on: the holder sends the copy as it writes it.
// Not parallel: it shortens the package's waits.
func TestBackupSlowToCopyIsNotGivenUpOn(t *testing.T) {
	defer storage.SetHolderPatience(time.Second, 300*time.Millisecond)()
	path, db := openAudit(t, 0)
	defer db.Close()
	if err := grow(db, 16, 64<<10); err != nil { // 1 MiB: the copy writes it in pieces
		t.Fatal(err)
	}
	var writes atomic.Int64
	db.AfterBackupWrite(func() {
		writes.Add(1)
		time.Sleep(50 * time.Millisecond)
	})
	srv, err := db.ServeLocal(storage.SocketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	dst := filepath.Join(t.TempDir(), "copy.db")
	if _, err := storage.BackupAt(context.Background(), path, dst); err != nil {
		t.Fatalf("a backup whose copy took %d writes of 50ms: %v", writes.Load(), err)
	}
	// 300ms of silence is 6 writes: the copy took many more.
	if n := writes.Load(); n < 18 {
		t.Fatalf("the copy took %d writes, too few to outlast the tool's patience", n)
	}
	if n, err := storage.VerifyAuditAt(context.Background(), dst); err != nil || n != 16 {
		t.Errorf("the copy: %d records, %v", n, err)
	}
}
