package storage_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/storage"
)

func TestVerifyAuditWhileTheStoreIsHeld(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 5)
	defer db.Close()
	srv, err := db.ServeLocal(storage.SocketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	n, err := storage.VerifyAuditAt(context.Background(), path)
	if err != nil || n != 5 {
		t.Fatalf("verifying through the running process: %d records, %v; want 5, nil", n, err)
	}

	// A break found by the process comes back as the chain error it is.
	if _, err := db.Append(context.Background(), actions.AuditEntry{Person: "bob", Event: "request"}); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	db.Close()
	tamper(t, path, rewrite(3, func(e *actions.AuditEntry) { e.Detail = "unlock staging" }))
	db, err = storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err = db.ServeLocal(storage.SocketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	n, err = storage.VerifyAuditAt(context.Background(), path)
	var chain *actions.ChainError
	if !errors.As(err, &chain) || chain.Seq != 3 || n != 2 {
		t.Fatalf("got %d records, %v; want the break at record 3 after 2 good ones", n, err)
	}
}

func TestVerifyAuditOpensAStoreNobodyHolds(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 3)
	db.Close()
	// A socket left behind by a killed process is not mistaken for one.
	if err := os.WriteFile(storage.SocketPath(path), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := storage.VerifyAuditAt(context.Background(), path)
	if err != nil || n != 3 {
		t.Fatalf("%d records, %v; want 3, nil", n, err)
	}
}

func TestVerifyAuditRefusesAMissingStoreAndCreatesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, path := range map[string]string{
		"missing file":      filepath.Join(dir, "infrabot.db"),
		"missing directory": filepath.Join(dir, "data", "infrabot.db"),
	} {
		_, err := storage.VerifyAuditAt(context.Background(), path)
		if err == nil || !strings.Contains(err.Error(), "there is no store at "+path) {
			t.Errorf("%s: %v, want a clear refusal", name, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("verifying a missing store created %v", entries)
	}
	notBolt := filepath.Join(dir, "notes.txt")
	os.WriteFile(notBolt, []byte("not a store"), 0o600)
	if _, err := storage.VerifyAuditAt(context.Background(), notBolt); err == nil {
		t.Error("a file that is not a store verified")
	}
}

func TestVerifyAuditSaysWhoHoldsTheStore(t *testing.T) {
	t.Parallel()
	path, db := openAudit(t, 1)
	defer db.Close()
	// Held, and nobody answers on the socket (an older infrabot).
	_, err := storage.VerifyAuditAt(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("%v, want it to say the store is held", err)
	}
}

// The infrabot that holds the store may be stopped (kill -STOP) or stuck:
// its socket still accepts, from the kernel's backlog, and nothing comes,
// or a reply starts and stops. `audit verify` and `backup`, from cron
// with no deadline, give up and say that the holder did not answer on its
// socket; the backup leaves no file behind.
// Not parallel: it shortens the package's waits.
func TestVerifyAndBackupGiveUpOnAHolderThatDoesNotAnswer(t *testing.T) {
	defer storage.SetHolderPatience(200*time.Millisecond, 200*time.Millisecond)()
	for name, sent := range map[string]string{ // what the holder sends, then nothing
		"nothing":        "",
		"half an answer": "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			path, db := openAudit(t, 1)
			defer db.Close()
			socket := storage.SocketPath(path)
			ln, err := net.Listen("unix", socket)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					defer c.Close()
					if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
						io.WriteString(c, sent)
					}
				}
			}()
			dst := filepath.Join(t.TempDir(), "copy.db")
			for tool, call := range map[string]func() error{
				"audit verify": func() error { _, err := storage.VerifyAuditAt(context.Background(), path); return err },
				"backup":       func() error { _, err := storage.BackupAt(context.Background(), path, dst); return err },
			} {
				done := make(chan error, 1)
				go func() { done <- call() }()
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "did not answer on "+socket) {
						t.Errorf("%s: %v, want it to say the holder did not answer on %s", tool, err, socket)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("%s: still waiting after 20s for a holder that does not answer", tool)
				}
			}
			if _, err := os.Lstat(dst); err == nil {
				t.Error("a failed backup left a file where the copy goes")
			}
		})
	}
}
