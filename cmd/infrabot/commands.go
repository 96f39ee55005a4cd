package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/console"
	"github.com/infrabot/infrabot/config"
	"github.com/infrabot/infrabot/simulator"
	"github.com/infrabot/infrabot/storage"
)

// defaultGrace is how long runs in flight may go on after a stop is asked
// for (Ctrl-C, SIGTERM) before they are cancelled and marked interrupted.
const defaultGrace = 10 * time.Second

func cmdShell(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("shell", stderr)
	cfgPath := fs.String("config", "", "config file (default: the built-in demo config)")
	user := fs.String("user", "", "the person you speak as (switch with /as NAME)")
	logPath := fs.String("log", "", "write infrabot's log to this file (default: only warnings and errors, to standard error)")
	grace := fs.Duration("grace", defaultGrace, "at Ctrl-C or SIGTERM, how long runs may go on before they are interrupted")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *user == "" {
		return &exitError{code: 2, msg: "infrabot shell: --user NAME is required (a person from the config's people)"}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	// The console is the terminal: the log would land in the middle of
	// the conversation, so only what needs attention goes there.
	log := NewLogger(cfg.Log, stderr, slog.LevelWarn)
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("opening the log file: %w", err)
		}
		defer f.Close()
		log = NewLogger(cfg.Log, f, slog.LevelDebug)
	}
	app, err := newApp(cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()

	interactive := isTerminal(stdin)
	con := console.New(stdout, interactive)
	app.Engine.AddChat(console.Platform, con)
	if err := start(ctx, app); err != nil {
		return err
	}
	if interactive {
		con.Printf("infrabot shell: speaking as %s. Type `help`, `/as NAME` to switch person, Ctrl-D to leave.\n", *user)
	}
	err = con.Session(ctx, &bot.Router{Engine: app.Engine}, stdin, *user)
	if ctx.Err() == nil {
		// Input ended: let the runs it started finish before leaving,
		// unless a stop comes meanwhile.
		waitRuns(ctx, app.Engine)
	}
	if ctx.Err() != nil {
		stopRuns(app.Engine, *grace, func(msg string) { con.Printf("%s\n", msg) })
	}
	return err
}

// waitRuns returns when every run has ended or ctx is done.
func waitRuns(ctx context.Context, e *actions.Engine) {
	done := make(chan struct{})
	go func() { e.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// stopRuns stops the engine after a grace period: new work is refused at
// once, runs in flight may finish within grace, and those still going are
// then cancelled and recorded as interrupted. say tells the person what is
// happening, when there is something to wait for or to cut off.
func stopRuns(e *actions.Engine, grace time.Duration, say func(string)) {
	now, cancel := context.WithCancel(context.Background())
	cancel()
	if e.Drain(now) != nil {
		say(fmt.Sprintf("stopping: runs in progress may finish within %s, then they are interrupted (interrupt again to leave at once)", grace))
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		if e.Drain(ctx) != nil && e.Running() > 0 {
			say(fmt.Sprintf("stopping: the grace period is over; cutting off %s still going (recorded as interrupted)", actions.Plural(e.Running(), "run")))
		}
		cancel()
	}
	e.Close()
}

// start recovers from an earlier crash and starts the scheduler (the
// approval-expiry sweep and the modules' jobs). A start that cannot
// recover stops there: serving with a run recorded as running would
// leave its environment locked by nobody.
func start(ctx context.Context, app *App) error {
	interrupted, err := app.Engine.Recover(ctx)
	if err != nil {
		app.Log.Error("cannot recover from the last stop; infrabot stops", "err", err)
		return fmt.Errorf("infrabot cannot start: recovering from the last stop failed (%w); fix the store (see docs/operations.md) and start again", err)
	}
	for _, r := range interrupted {
		app.Log.Warn("run interrupted by a restart", "run", r.ID, "command", r.Command, "person", r.Person)
	}
	if err := app.Engine.ExpireApprovals(ctx); err != nil {
		return fmt.Errorf("expiring old approvals: %w", err)
	}
	if err := app.Sched.Start(ctx); err != nil {
		return fmt.Errorf("starting the scheduler: %w", err)
	}
	return nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	// SIGHUP reloads the config. Its default is to kill the process, so
	// it is taken first of all: one sent while infrabot starts (a config
	// management run, logrotate) waits and reloads once it is serving.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fs := newFlags("run", stderr)
	cfgPath := fs.String("config", "", "config file (default: the built-in demo config)")
	graceFlag := fs.Duration("grace", 0, "at SIGTERM or Ctrl-C, how long runs may go on before they are interrupted (default: shutdown.grace in the config, 60s)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	// Refuse before anything is created (the store, a simulator).
	if cfg.Slack == nil && cfg.Discord == nil {
		return errors.New("no chat adapter is configured (add a slack or discord section to the config), and `infrabot shell` is the local console")
	}
	gc := tuneGC(os.Getenv)
	app, err := NewApp(cfg, stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	app.Log.Info("garbage collector", "GOGC", gc.GOGC, "GOMEMLIMIT", gc.MemoryLimit)
	adapters, err := chatAdapters(app)
	if err != nil {
		return err
	}
	adm, err := serveAdmin(app)
	if err != nil {
		return err
	}
	if err := start(ctx, app); err != nil {
		return err
	}
	app.Log.Info("infrabot running", "version", version, "adapters", len(adapters))
	// Adapters outlive the engine's runs: at a stop, runs may finish
	// within the grace period (the adapters answer "shutting down"
	// meanwhile), the rest are cancelled and their final messages queued,
	// then the adapters drain.
	adapterCtx, stopAdapters := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdapters()
	errc := make(chan error, len(adapters))
	for _, a := range adapters {
		go func() { errc <- a(adapterCtx) }()
	}
	adminDone := make(chan error, 1)
	if adm != nil {
		go func() { adminDone <- adm.Serve(adapterCtx) }()
	} else {
		adminDone <- nil
	}
	err = nil
serve:
	for {
		select {
		case <-ctx.Done():
			break serve
		case err = <-errc:
			adapters = adapters[1:]
			break serve
		case <-hup:
			app.Log.Info("SIGHUP: reloading the config")
			_ = app.Reload(ctx) // logged and audited; the old config stays on failure
		}
	}
	grace := time.Duration(app.current.Load().Shutdown.Grace)
	if *graceFlag > 0 {
		grace = *graceFlag
	}
	stopRuns(app.Engine, grace, func(msg string) { app.Log.Info(msg) })
	stopAdapters()
	for range adapters {
		if aerr := <-errc; aerr != nil && err == nil {
			err = aerr
		}
	}
	if aerr := <-adminDone; aerr != nil && err == nil {
		err = aerr
	}
	app.Log.Info("stopped")
	return err
}

// storePath is the store the config at cfgPath names. Only the store is
// read: no chat or cloud secret is resolved, so that cron jobs need none.
func storePath(cfgPath string) (string, error) {
	if cfgPath == "" {
		cfg, err := config.Demo()
		if err != nil {
			return "", err
		}
		return cfg.Storage.Path, nil
	}
	st, err := config.LoadStorage(cfgPath)
	if err != nil {
		return "", err
	}
	return st.Path, nil
}

// cmdBackup copies the store to a new file while infrabot runs (the
// running process streams one transaction's view over its local socket)
// or not, then checks the copy's audit chain.
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	cfgPath := fs.String("config", "", "config file (default: the built-in demo config)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() != 1 {
		return &exitError{code: 2, msg: "usage: infrabot backup --config FILE BACKUP (BACKUP must not exist)"}
	}
	dst := fs.Arg(0)
	path, err := storePath(*cfgPath)
	if err != nil {
		return err
	}
	n, err := storage.BackupAt(ctx, path, dst)
	if err != nil {
		return err
	}
	records, err := storage.VerifyAuditAt(ctx, dst)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("backup written to %s (%d bytes), but its audit log does not check out: %v", dst, n, err)}
	}
	fmt.Fprintf(stdout, "backup of %s written to %s: %d bytes, audit log ok (%d records)\n", path, dst, n, records)
	return nil
}

func cmdConfigCheck(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return &exitError{code: 2, msg: "usage: infrabot config check FILE"}
	}
	cfg, err := config.Load(args[0])
	if err == nil {
		err = checkConfig(cfg)
	}
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stdout, "%s: warning: %s\n", location(w), w.Message)
	}
	if n := len(cfg.Warnings); n > 0 {
		fmt.Fprintf(stdout, "%s: ok, with %s\n", args[0], actions.Plural(n, "warning"))
		return nil
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[0])
	return nil
}

// location is a problem's FILE:LINE.
func location(p config.Problem) string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return p.File
}

func cmdAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit verify", stderr)
	cfgPath := fs.String("config", "", "config file (default: the built-in demo config)")
	store := fs.String("store", "", "a store file to check (a backup) instead of the config's")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path := *store
	if path == "" {
		var err error
		if path, err = storePath(*cfgPath); err != nil {
			return err
		}
	}
	n, err := storage.VerifyAuditAt(ctx, path)
	var chain *actions.ChainError
	if errors.As(err, &chain) {
		return &exitError{code: 1, msg: fmt.Sprintf("audit log BROKEN after %d good records: %v", n, chain)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit log ok: %d records, hash chain intact\n", n)
	return nil
}

func cmdSimulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("simulator", stderr)
	listen := fs.String("listen", "127.0.0.1:8800", "address to serve on (loopback)")
	user := fs.String("user", "admin", "Keystone user accepted")
	password := fs.String("password", "admin", "that user's password (a local test credential)")
	build := fs.Duration("build-delay", 2*time.Second, "how long a server stays in BUILD")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sim := simulator.New(simulator.Options{User: *user, Password: *password, BuildDelay: *build, Logger: NewLogger(config.Log{}, stderr, slog.LevelDebug)})
	if err := sim.Start(*listen); err != nil {
		return err
	}
	defer sim.Close()
	fmt.Fprintf(stdout, "OpenStack simulator: Keystone at %s (user %s, project admin, domain Default)\n", sim.AuthURL(), *user)
	<-ctx.Done()
	return nil
}

// cmdProbe asks an admin endpoint whether infrabot is alive, for
// container health checks: images without curl run `infrabot probe`.
func cmdProbe(ctx context.Context, args []string, stdout io.Writer) error {
	url := "http://" + config.DefaultAdminListen + "/healthz"
	switch len(args) {
	case 0:
	case 1:
		url = args[0]
	default:
		return &exitError{code: 2, msg: "usage: infrabot probe [URL]"}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("infrabot probe: %v", err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("infrabot probe: %s does not answer: %v", url, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &exitError{code: 1, msg: fmt.Sprintf("infrabot probe: %s answered %s", url, resp.Status)}
	}
	fmt.Fprintf(stdout, "%s: %s\n", url, resp.Status)
	return nil
}
