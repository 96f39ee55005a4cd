package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/storage"
)

// TestBackupWhileWriting takes backups through the process that holds
// the store while it appends to the audit log, and each copy opens on
// its own as a store whose chain checks out.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 50)
	defer db.Close()
	srv, err := db.ServeLocal(storage.SocketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load() && i < 2000; i++ {
			if _, err := db.Append(context.Background(), actions.AuditEntry{Person: "alice", Event: "request", Detail: "provision staging"}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	dir := t.TempDir()
	var last uint64
	for i := range 3 {
		dst := filepath.Join(dir, "backup-"+string(rune('a'+i))+".db")
		n, err := storage.BackupAt(context.Background(), path, dst)
		if err != nil || n == 0 {
			t.Fatalf("backup %d: %d bytes, %v", i, n, err)
		}
		records, err := storage.VerifyAuditAt(context.Background(), dst)
		if err != nil || records < 50 || records < last {
			t.Fatalf("backup %d: %d records (previous %d), %v", i, records, last, err)
		}
		last = records
		if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o600 {
			t.Errorf("backup %d is %v, want 0600", i, fi.Mode().Perm())
		}
	}
	stop.Store(true)
	wg.Wait()
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("the backup folder holds %d files, want the 3 backups and nothing partial", len(entries))
	}
}

// TestBackupOfAStoreNobodyHolds copies the file read-only, and refuses to
// overwrite what is there.
func TestBackupOfAStoreNobodyHolds(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 4)
	db.Close()
	dst := filepath.Join(t.TempDir(), "backup.db")
	if _, err := storage.BackupAt(context.Background(), path, dst); err != nil {
		t.Fatal(err)
	}
	if n, err := storage.VerifyAuditAt(context.Background(), dst); err != nil || n != 4 {
		t.Fatalf("the copy: %d records, %v", n, err)
	}
	if _, err := storage.BackupAt(context.Background(), path, dst); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("overwriting a backup: %v", err)
	}
	if _, err := storage.BackupAt(context.Background(), path+".missing", dst+"2"); err == nil || !strings.Contains(err.Error(), "there is no store") {
		t.Errorf("backing up a missing store: %v", err)
	}
}
