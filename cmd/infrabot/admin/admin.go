// Package admin is infrabot's admin listener (admin.listen, 127.0.0.1:9090
// by default), separate from the public server that Slack, Discord and
// heartbeat pings reach: /healthz says the process is alive, /readyz
// names each part infrabot needs with its state, and /metrics serves
// Prometheus metrics.
//
// The kernel, the modules and the adapters know nothing of Prometheus:
// they expose read methods and counters, or call a small interface of
// their own (actions.Observer), and Metrics turns those into metrics here,
// at the edge, where the wiring hands them over.
package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Part is something infrabot needs to do its work — the store, a chat
// adapter, the scheduler — with a way to ask whether it is up.
type Part struct {
	Name string
	// Ready says whether the part is up now and, in a few words, its
	// state ("open, 2.1 MB", "connected", "closed"). It must be quick:
	// /readyz is probed every few seconds.
	Ready func(ctx context.Context) (ok bool, state string)
}

// PartState is one part in /readyz's answer.
type PartState struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	State string `json:"state"`
}

// Readiness is /readyz's answer.
type Readiness struct {
	// Status is "ready" when every part is up, else "not ready".
	Status string      `json:"status"`
	Parts  []PartState `json:"parts"`
}

// Server is the admin listener.
type Server struct {
	ln      net.Listener
	srv     *http.Server
	log     *slog.Logger
	metrics *Metrics

	mu    sync.Mutex
	parts []Part
}

// Listen listens on addr at once, so that a port in use is an error at
// start. metrics is served on /metrics.
func Listen(addr string, metrics *Metrics, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listening on %s: %w", addr, err)
	}
	s := &Server{ln: ln, log: log, metrics: metrics}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	metrics.readiness(s.Check)
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Watch adds parts to those /readyz reports.
func (s *Server) Watch(parts ...Part) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parts = append(s.parts, parts...)
}

// Check asks every part whether it is up, each within a second.
func (s *Server) Check(ctx context.Context) Readiness {
	s.mu.Lock()
	parts := append([]Part(nil), s.parts...)
	s.mu.Unlock()
	out := Readiness{Status: "ready", Parts: make([]PartState, len(parts))}
	for i, p := range parts {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		ok, state := p.Ready(pctx)
		cancel()
		out.Parts[i] = PartState{Name: p.Name, OK: ok, State: state}
		if !ok {
			out.Status = "not ready"
		}
	}
	return out
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	rd := s.Check(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if rd.Status != "ready" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(rd)
}

// Serve serves until ctx ends, then shuts down: requests in flight get 5
// seconds to finish.
func (s *Server) Serve(ctx context.Context) error {
	s.log.Info("serving admin endpoints (/healthz, /readyz, /metrics)", "listen", s.Addr())
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("admin: shutting down: %w", err)
	}
	<-errc
	return nil
}
