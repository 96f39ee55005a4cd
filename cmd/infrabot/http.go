package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// publicServer is infrabot's one public HTTP server (http.listen): Slack's
// and Discord's endpoints and heartbeat pings are mounted on it by the
// wiring. It is separate from the admin listener.
type publicServer struct {
	mux *http.ServeMux
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// newPublicServer listens on addr at once, so that a port in use is an
// error at start, before anything else runs.
func newPublicServer(addr string, log *slog.Logger) (*publicServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http: listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	return &publicServer{
		mux: mux, ln: ln, log: log,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			MaxHeaderBytes:    64 << 10,
		},
	}, nil
}

// Mount serves h for requests matching pattern (http.ServeMux patterns).
func (s *publicServer) Mount(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Addr is the address the server listens on.
func (s *publicServer) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx ends, then shuts down gracefully: requests in
// flight get 5 seconds to finish.
func (s *publicServer) Serve(ctx context.Context) error {
	s.log.Info("serving public HTTP endpoints", "listen", s.Addr())
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http: shutting down: %w", err)
	}
	<-errc
	return nil
}
