// Command infrabot is the chat-ops bot: see `infrabot help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `infrabot — chat-ops for infrastructure teams

Usage:
  infrabot run --config FILE               run the bot with the chat adapters in the config
  infrabot shell --config FILE --user NAME the local console chat (stdin/stdout)
  infrabot config check FILE               validate a config file
  infrabot audit verify --config FILE      check the audit log's hash chain
                     [--store FILE]        … of that store file (a backup) instead
  infrabot backup --config FILE BACKUP     copy the store while infrabot runs (a consistent snapshot)
  infrabot probe [URL]                     exit 0 when URL (default the admin /healthz) answers 200: for HEALTHCHECK
  infrabot discord register --config FILE  register /infra in Discord from the catalogue
  infrabot simulator [--listen ADDR]       run the OpenStack API simulator on its own
  infrabot version                         print the version
`

func main() {
	ctx, stop := stopOnSignals(os.Stderr)
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// stopOnSignals returns a context that ends at the first SIGINT (Ctrl-C)
// or SIGTERM, which asks for an orderly stop. A second one leaves at once:
// runs still going are then marked interrupted at the next start.
func stopOnSignals(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(stderr, "infrabot: stopped at once; runs still going are marked interrupted at the next start")
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}

// exitError carries an exit code of its own.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Main runs one subcommand and returns the process's exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdin, stdout, stderr)
	if err == nil {
		return 0
	}
	var probs config.Problems
	if errors.As(err, &probs) {
		fmt.Fprintln(stderr, bot.Terminal(probs.Error()))
		fmt.Fprintln(stderr, actions.Plural(len(probs), "problem"))
		return 1
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, bot.Terminal(ee.msg))
		}
		return ee.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	// An error may quote a config file or a store: show it escaped.
	fmt.Fprintln(stderr, "infrabot:", bot.Terminal(err.Error()))
	return 1
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2}
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stderr)
	case "shell":
		return cmdShell(ctx, args[1:], stdin, stdout, stderr)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			return &exitError{code: 2, msg: "usage: infrabot config check FILE"}
		}
		return cmdConfigCheck(args[2:], stdout)
	case "audit":
		if len(args) < 2 || args[1] != "verify" {
			return &exitError{code: 2, msg: "usage: infrabot audit verify --config FILE"}
		}
		return cmdAuditVerify(ctx, args[2:], stdout, stderr)
	case "discord":
		return cmdDiscord(ctx, args[1:], stdout, stderr)
	case "backup":
		return cmdBackup(ctx, args[1:], stdout, stderr)
	case "probe":
		return cmdProbe(ctx, args[1:], stdout)
	case "simulator":
		return cmdSimulator(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "infrabot", version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return &exitError{code: 2, msg: fmt.Sprintf("infrabot: unknown subcommand %q\n%s", args[0], usage)}
}

// parseFlags parses args; the flag package has already printed what was
// wrong and the usage, so the error it returns says nothing more.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("infrabot "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
