package storage_test

import (
	"context"
	"fmt"
	"net"
	"strings"
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

// A backup whose reader stops reading (a suspended `infrabot backup`) is
// cut off once it has taken nothing for the stall time: its stream is a
// read transaction, and while one is open every write that grows the
// file waits, and with it the committer and every write behind it.
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

	conn, err := net.Dial("unix", storage.SocketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprint(conn, "GET /backup HTTP/1.1\r\nHost: store\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The reader reads nothing from here on.
	for deadline := time.Now().Add(10 * time.Second); db.OpenReads() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the backup never began")
		}
	}

	// Writes that grow the file well past its map need the backup's
	// transaction gone.
	wrote := make(chan error, 1)
	go func() { wrote <- grow(db, 128, 64<<10) }()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("writes are still blocked by a backup whose reader stopped reading 20s ago")
	}
	if n := db.OpenReads(); n != 0 {
		t.Errorf("%d read transactions still open", n)
	}
}
