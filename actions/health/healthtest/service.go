// Package healthtest holds what tests of health checks share: a service
// on loopback that a check probes and the test makes fail on demand.
package healthtest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Service is an HTTP service on loopback that answers every request 200
// "status: ok" until Failing is set, and 503 "database unreachable"
// while it is. It counts the requests it gets; it closes when the test
// ends.
type Service struct {
	*httptest.Server
	Failing atomic.Bool
	Hits    atomic.Int64
}

// NewService starts a Service that answers ok.
func NewService(t testing.TB) *Service {
	s := &Service{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Hits.Add(1)
		if s.Failing.Load() {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("status: ok\n"))
	}))
	t.Cleanup(s.Close)
	return s
}
