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

// The copies beside the store that backups left when their process was
// killed, each as big as the store, are removed, and said so, by the
// next process to hold the store; nothing else is, nor while another
// process holds it.
func TestOpenRemovesCopiesLeftByBackups(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 1)
	dir := filepath.Dir(path)
	left := []string{".infrabot.db.backup-1234567", ".infrabot.db.backup-0"}
	kept := []string{
		".infrabot.db.backup-", ".infrabot.db.backup-12x", ".infrabot.db.backup-1.backup-2",
		".other.db.backup-123", "infrabot.db.backup-123", ".infrabot.db.partial-123",
	}
	for _, name := range append(append([]string{}, left...), kept...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("copy"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".infrabot.db.backup-77"), 0o700); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, ".infrabot.db.backup-77")

	// Held by db: another Open fails and removes nothing.
	if other, err := storage.Open(path); err == nil {
		other.Close()
		t.Fatal("a second Open of a held store succeeded")
	}
	for _, name := range left {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("an Open that did not get the store removed %s: %v", name, err)
		}
	}
	db.Close()

	db, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	said := map[string]error{}
	for _, c := range db.LeftCopies() {
		said[c.Path] = c.Err
	}
	for _, name := range left {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s is still beside the store", name)
		}
		if err, ok := said[filepath.Join(dir, name)]; !ok || err != nil {
			t.Errorf("the removal of %s was not said (%v): %+v", name, err, db.LeftCopies())
		}
	}
	if len(said) != len(left) {
		t.Errorf("Open says it found %+v, want only %v", db.LeftCopies(), left)
	}
	for _, name := range kept {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
	if n, err := db.VerifyAudit(context.Background()); err != nil || n != 1 {
		t.Errorf("the store after: %d records, %v", n, err)
	}
}
