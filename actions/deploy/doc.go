// Package deploy is the deploy module's domain: deploy targets and
// bootstrap steps declared per environment, run over SSH on the
// environment's hosts. This part holds what does not depend on the
// kernel's module handle: step commands with parameters substituted
// safely quoted (command.go, params.go), a step run on several hosts at
// once with a limit and fail-fast (step.go), and the bounded, redacted
// transcript of each host's output (transcript.go). It reaches hosts
// through Remote, which actions/ssh implements.
package deploy
