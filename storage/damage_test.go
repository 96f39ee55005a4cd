package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/storage"
)

// A store file cut short (a copy that stopped, a full disk, a bad
// restore) is refused with a clear error by everything that opens it:
// `audit verify --store`, which the restore procedure runs on a copy,
// `backup`, and `run`/`shell`. bbolt alone reads past the end of the file
// it maps, which kills the process (SIGBUS), or trusts a page that is not
// there (panic: invalid freelist page).
func TestATruncatedStoreIsRefusedClearly(t *testing.T) {
	t.Parallel()
	for name, cut := range map[string]func(data int64) int64{
		"cut in half":         func(data int64) int64 { return data / 2 },
		"only its meta pages": func(int64) int64 { return 2 * 4096 },
		"its last page gone":  func(data int64) int64 { return data - 4096 },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path, db := openAudit(t, 0)
			if err := grow(db, 32, 16<<10); err != nil {
				t.Fatal(err)
			}
			data, err := db.Size(context.Background()) // the file may run on past its data
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			if err := os.Truncate(path, cut(data)); err != nil {
				t.Fatal(err)
			}
			damaged := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), "the store file "+path+" is damaged (truncated?)") {
					t.Errorf("%s: %v, want it to say the store file is damaged", what, err)
				}
			}
			_, err = storage.VerifyAuditAt(context.Background(), path)
			damaged("audit verify --store", err)
			_, err = storage.BackupAt(context.Background(), path, filepath.Join(t.TempDir(), "copy.db"))
			damaged("backup", err)
			db, err = storage.Open(path)
			if err == nil {
				db.Close()
			}
			damaged("run", err)
		})
	}
}
