package actions

import "context"

// Shutdown stops the engine gracefully. From the moment it is called, a
// command that would start a run or change anything is answered
// "infrabot is shutting down" (queries still answer, and `cancel` still
// cancels); runs already going may finish until ctx ends (the grace
// period). Those still going then are cancelled and recorded as
// interrupted, and Shutdown waits for them to finish recording. It
// returns how many runs it interrupted.
func (e *Engine) Shutdown(ctx context.Context) int {
	if e.Drain(ctx) == nil {
		return 0
	}
	n := e.Running()
	e.Close()
	return n
}

// Running returns how many runs are going now.
func (e *Engine) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.active)
}

// Stopping reports whether Shutdown or Close has begun: new work is
// refused.
func (e *Engine) Stopping() bool { return e.stopping() }

// Audit appends entry to the audit log, stamped with the engine's clock,
// for what the wiring does on its own (a config reload).
func (e *Engine) Audit(ctx context.Context, entry AuditEntry) { e.record(ctx, entry) }
