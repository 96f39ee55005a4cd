package openstack_test

import (
	"strings"
	"testing"
)

// testWriter sends a logger's lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func contains(s, sub string) bool { return sub != "" && strings.Contains(s, sub) }
