package actions

import (
	"context"
	"log/slog"
)

// Every log line about a run carries the run's id and environment: the
// engine puts them in the context a run's action is called with, and
// LogHandler adds them to any line logged with that context (slog's
// InfoContext and friends), whichever package logs it — the cloud
// adapter creating a server, the SSH adapter running a step.

type runKey struct{}

type runAttrs struct {
	id  int64
	env string
}

// WithRun returns ctx marked as being about run id on env ("" for an
// action on no environment).
func WithRun(ctx context.Context, id int64, env string) context.Context {
	return context.WithValue(ctx, runKey{}, runAttrs{id: id, env: env})
}

// RunFrom returns the run ctx is about, if any.
func RunFrom(ctx context.Context) (id int64, env string, ok bool) {
	r, ok := ctx.Value(runKey{}).(runAttrs)
	return r.id, r.env, ok
}

// LogHandler wraps h so that a line logged with a context that WithRun
// marked carries "run" and "env" attributes, unless the line already
// names its run.
func LogHandler(h slog.Handler) slog.Handler { return runHandler{h: h} }

type runHandler struct {
	h     slog.Handler
	named bool // a "run" attribute was added with WithAttrs
}

func (r runHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r runHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id, env, ok := RunFrom(ctx); ok && !r.named {
		named := false
		rec.Attrs(func(a slog.Attr) bool {
			named = a.Key == "run"
			return !named
		})
		if !named {
			rec = rec.Clone()
			rec.AddAttrs(slog.Int64("run", id), slog.String("env", env))
		}
	}
	return r.h.Handle(ctx, rec)
}

func (r runHandler) WithAttrs(as []slog.Attr) slog.Handler {
	named := r.named
	for _, a := range as {
		named = named || a.Key == "run"
	}
	return runHandler{h: r.h.WithAttrs(as), named: named}
}

func (r runHandler) WithGroup(name string) slog.Handler {
	return runHandler{h: r.h.WithGroup(name), named: r.named}
}

// runLog is the engine's logger for lines about run.
func (e *Engine) runLog(run *Run) *slog.Logger {
	return e.log.With("run", run.ID, "env", run.Env)
}
