package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// oneAdminConfig is the YAML of a config whose store is in dir and whose
// one person, alice, is an admin of everything, followed by extra: the
// sections the test is about (clouds, environments, checks…).
func oneAdminConfig(dir, extra string) string {
	return fmt.Sprintf(`storage: {path: %q}
people:
  alice: {roles: [admin]}
roles:
  admin: {allow: ["*"], environments: ["*"]}
`, dir+"/infrabot.db") + extra
}

// oneAdminFile is a config file of oneAdminConfig's in a directory of
// the test's own, which the test may write again before a reload.
type oneAdminFile struct {
	t    *testing.T
	dir  string
	path string
}

func newOneAdminFile(t *testing.T) *oneAdminFile {
	dir := t.TempDir()
	return &oneAdminFile{t: t, dir: dir, path: filepath.Join(dir, "infrabot.yaml")}
}

// write writes oneAdminConfig with extra.
func (f *oneAdminFile) write(extra string) {
	f.t.Helper()
	if err := os.WriteFile(f.path, []byte(oneAdminConfig(f.dir, extra)), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// open opens the app on the file, logging to logs, closed at the test's end.
func (f *oneAdminFile) open(logs io.Writer) *App {
	f.t.Helper()
	app, err := OpenApp(f.path, logs)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(app.Close)
	return app
}
