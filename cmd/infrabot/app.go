package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/cijobs"
	"github.com/infrabot/infrabot/actions/deploy"
	"github.com/infrabot/infrabot/actions/digest"
	"github.com/infrabot/infrabot/actions/environments"
	"github.com/infrabot/infrabot/actions/health"
	"github.com/infrabot/infrabot/actions/oncall"
	"github.com/infrabot/infrabot/actions/openstack"
	"github.com/infrabot/infrabot/actions/pagerduty"
	"github.com/infrabot/infrabot/actions/schedule"
	"github.com/infrabot/infrabot/actions/ssh"
	"github.com/infrabot/infrabot/bot"
	"github.com/infrabot/infrabot/bot/console"
	"github.com/infrabot/infrabot/cmd/infrabot/admin"
	"github.com/infrabot/infrabot/config"
	"github.com/infrabot/infrabot/simulator"
	"github.com/infrabot/infrabot/storage"
)

// App is infrabot wired from a config: the store, the engine and its
// actions, and the clouds. Adapters are added by the subcommand.
type App struct {
	Config *config.Config
	DB     *storage.DB
	Engine *actions.Engine
	Sched  *schedule.Scheduler
	Log    *slog.Logger
	Clouds *Clouds
	// redact is the one redactor, in front of the log and in the engine;
	// a reload teaches it the new config's secrets.
	redact *actions.Redactor
	// remotes are the environments' SSH executors, closed with the app.
	remotes []*ssh.Remote
	// local serves reads of the store (audit verify) to other processes
	// while this one holds it; nil when it could not be started.
	local *storage.LocalServer
	// Metrics observe the engine and read the parts at scrape time.
	Metrics *admin.Metrics
	// parts are what /readyz reports, added by the wiring as it makes
	// them (the store, the scheduler, each chat adapter).
	parts []admin.Part
	// envs is the environments module, which a reload reconfigures.
	envs *environments.Module
	// reload serialises reloads; current is the config in force.
	reload  sync.Mutex
	current atomic.Pointer[config.Config]
	// Health is the health-checks module.
	Health *health.Module
	// deploy is the deploy module and shells the environments' SSH
	// executors by environment: ssh checks run through them.
	deploy *deploy.Module
	shells map[string]deploy.Remote
	// OnCall is the on-call module: schedules and escalation.
	OnCall *oncall.Module
	// ci and digests are the CI jobs and digests modules, which a reload
	// reconfigures.
	ci      *cijobs.Module
	digests *digest.Module
	// watches are the CI sources in force, put back when a reload is
	// undone.
	watches []cijobs.Watch

	// deliveries read each chat adapter's delivery counts and queue
	// depth, for /metrics; adapters add theirs as the wiring makes them.
	deliveryMu sync.Mutex
	deliveries map[string]delivery
}

// delivery reads one chat adapter's delivery queue (bot.Outbox).
type delivery struct {
	counts func() map[string]bot.Counts
	queued func() int
}

// countDeliveries makes platform's delivery counts and queue depth part
// of /metrics.
func (a *App) countDeliveries(platform string, counts func() map[string]bot.Counts, queued func() int) {
	a.deliveryMu.Lock()
	defer a.deliveryMu.Unlock()
	if a.deliveries == nil {
		a.deliveries = map[string]delivery{}
	}
	a.deliveries[platform] = delivery{counts: counts, queued: queued}
}

// NewLogger returns the logger the config asks for, writing to w, with
// nothing below atLeast.
func NewLogger(c config.Log, w io.Writer, atLeast slog.Level) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	if c.Level == "" {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: max(level, atLeast)}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// OpenApp loads the config at path and builds the app around it, logging
// to logOut as the config's log section says.
func OpenApp(path string, logOut io.Writer) (*App, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return NewApp(cfg, logOut)
}

// NewApp builds the app around cfg, logging to logOut as the config's log
// section says.
func NewApp(cfg *config.Config, logOut io.Writer) (*App, error) {
	return newApp(cfg, NewLogger(cfg.Log, logOut, slog.LevelDebug))
}

// newApp builds the app around cfg, logging to base. It checks first what
// only the catalogue can tell (the names roles and approval rules give),
// so that a config with mistakes creates nothing. One redactor, knowing
// every secret cfg resolved, sits in front of the log (so every adapter's
// log lines, remote error texts included, pass it) and in the engine
// (chat, runs, audit).
func newApp(cfg *config.Config, base *slog.Logger) (*App, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	redact := actions.NewRedactor(cfg.SecretValues()...)
	// Every line logged with a run's context names the run and its
	// environment, whichever package logs it.
	log := slog.New(actions.LogHandler(redact.Handler(base.Handler())))
	for _, w := range cfg.Warnings {
		log.Warn("config: " + w.String())
	}
	metrics := admin.NewMetrics(version)
	db, err := storage.Open(cfg.Storage.Path)
	if err != nil {
		return nil, err
	}
	for _, c := range db.LeftCopies() {
		if c.Err != nil {
			log.Warn("a backup's copy left beside the store could not be removed", "file", c.Path, "err", c.Err)
		} else {
			log.Info("removed a backup's copy left beside the store by a process that ended during the backup", "file", c.Path)
		}
	}
	sched := schedule.New(schedule.Options{LastRuns: db, Logger: log})
	opts := engineOptions(cfg, sched, log)
	opts.Runs, opts.Locks, opts.Audit, opts.Stores, opts.Redactor = db, db, db, db, redact
	opts.Observer = metrics
	app := &App{Config: cfg, DB: db, Engine: actions.NewEngine(opts), Sched: sched, Log: log, Metrics: metrics, redact: redact}
	app.current.Store(cfg)
	app.parts = append(app.parts,
		admin.Part{Name: "store", Ready: func(ctx context.Context) (bool, string) {
			n, err := db.Size(ctx)
			if errors.Is(err, storage.ErrBusy) {
				return false, "busy"
			}
			if err != nil {
				return false, "closed"
			}
			return true, fmt.Sprintf("open, %d bytes", n)
		}},
		admin.Part{Name: "scheduler", Ready: func(context.Context) (bool, string) {
			running, jobs := sched.Running()
			if !running {
				return false, "not running"
			}
			return true, fmt.Sprintf("running, %d jobs", jobs)
		}},
	)
	if err := app.modules(); err != nil {
		db.Close()
		return nil, err
	}
	app.local, err = db.ServeLocal(storage.SocketPath(cfg.Storage.Path))
	if err != nil {
		log.Warn("`infrabot audit verify` will not work while this process runs", "err", err)
	}
	return app, nil
}

// engineOptions are the engine's options from cfg, stores aside.
func engineOptions(cfg *config.Config, sched actions.Scheduler, log *slog.Logger) actions.Options {
	var envNames []string
	for name := range cfg.Environments {
		envNames = append(envNames, name)
	}
	return actions.Options{
		Policy:           policyFrom(cfg),
		Scheduler:        sched,
		Environments:     envNames,
		Channels:         channelsFrom(cfg),
		ApprovalsChannel: cfg.ApprovalsChannel,
		Logger:           log,
	}
}

// checkConfig checks the names the config's roles and approval rules give
// against the catalogue, the one list of commands, which exists only once
// the modules have registered theirs: on an app built for that alone,
// whose scheduler never starts and whose store keeps nothing.
func checkConfig(cfg *config.Config) error {
	quiet := slog.New(slog.DiscardHandler)
	a := &App{Config: cfg, Log: quiet, Sched: schedule.New(schedule.Options{Logger: quiet})}
	opts := engineOptions(cfg, a.Sched, quiet)
	opts.Stores = listOnly{}
	a.Engine = actions.NewEngine(opts)
	if err := a.modules(); err != nil {
		return err
	}
	if probs := cfg.CheckPermissions(a.Engine.Permissions()); probs != nil {
		return probs
	}
	return nil
}

// listOnly stands for the modules' store in an app built only to list its
// commands: modules may declare buckets, and nothing is kept.
type listOnly struct{}

var errListOnly = errors.New("this infrabot only lists its commands; it keeps nothing")

func (listOnly) ModuleStore(string, []string) (actions.Store, error)  { return listOnly{}, nil }
func (listOnly) Update(context.Context, func(actions.Tx) error) error { return errListOnly }
func (listOnly) View(context.Context, func(actions.Tx) error) error   { return errListOnly }

// modules makes the kernel's own jobs and every module, each on its handle.
func (a *App) modules() error {
	if err := a.Engine.ScheduleSweep(); err != nil {
		return err
	}
	a.Clouds = &Clouds{cfg: a.Config.Clouds, log: a.Log, conns: map[string]*cloudConn{}}
	h, err := a.Engine.Module(environments.Name)
	if err != nil {
		return err
	}
	a.envs = environments.New(h, environmentsFrom(a.Config), a.Clouds.Get)
	if err := a.deployModule(a.envs); err != nil {
		return err
	}
	if err := a.healthModule(); err != nil {
		return err
	}
	if err := a.oncallModule(); err != nil {
		return err
	}
	return a.ciModules()
}

// Close stops runs in flight (they are recorded as interrupted), then the
// clouds, the store's local reads and the store.
func (a *App) Close() {
	a.Sched.Close()
	if a.Health != nil {
		a.Health.Close() // its last results stored
	}
	if a.OnCall != nil {
		a.OnCall.Close() // pages going out sent or queued
	}
	a.Engine.Close()
	for _, r := range a.remotes {
		r.Close()
	}
	a.Clouds.Close()
	if a.local != nil {
		a.local.Close()
	}
	a.DB.Close()
}

func policyFrom(c *config.Config) *actions.Policy {
	var people []*actions.Person
	for name, p := range c.People {
		ids := map[string]string{}
		if p.Slack != "" {
			ids["slack"] = p.Slack
		}
		if p.Discord != "" {
			ids["discord"] = p.Discord
		}
		ids[console.Platform] = name // the console knows people by name
		people = append(people, &actions.Person{Name: name, Roles: p.Roles, IDs: ids})
	}
	var roles []*actions.Role
	for name, r := range c.Roles {
		roles = append(roles, &actions.Role{Name: name, Allow: r.Allow, Inherit: r.Inherit, Environments: r.Environments})
	}
	var rules []actions.ApprovalRule
	for _, a := range c.Approvals {
		rules = append(rules, actions.ApprovalRule{Actions: a.Actions, Environments: a.Environments, Approvers: a.Approvers, Expires: time.Duration(a.Expires)})
	}
	return actions.NewPolicy(people, roles, rules)
}

// channelsFrom maps the config's channels to their ids per platform. On
// the console every channel exists, as #NAME.
func channelsFrom(c *config.Config) actions.Channels {
	out := actions.Channels{}
	for name, ch := range c.Channels {
		ids := map[string]string{console.Platform: "#" + name}
		if ch.Slack != "" {
			ids["slack"] = ch.Slack
		}
		if ch.Discord != "" {
			ids["discord"] = ch.Discord
		}
		out[name] = ids
	}
	return out
}

func environmentsFrom(c *config.Config) []environments.Environment {
	var out []environments.Environment
	for name, e := range c.Environments {
		parallel := e.Parallel
		if parallel == 0 {
			parallel = cmp.Or(c.Clouds[e.Cloud].Parallel, openstack.DefaultParallel)
		}
		env := environments.Environment{Name: name, Cloud: e.Cloud, Timeout: time.Duration(e.Timeout), Parallel: parallel}
		for _, s := range e.Servers {
			count := 1
			if s.Count != nil {
				count = *s.Count
			}
			env.Servers = append(env.Servers, environments.ServerDecl{
				Name: s.Name, Count: count, Flavor: s.Flavor, Image: s.Image,
				Networks: s.Networks, KeyName: s.KeyName, SecurityGroups: s.SecurityGroups,
			})
		}
		out = append(out, env)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Clouds connects to the configured clouds on first use, and starts the
// built-in simulator for a cloud that asks for it. Each cloud connects
// under its own lock, so a slow or unreachable cloud holds up only the
// requests for it.
type Clouds struct {
	cfg map[string]config.Cloud
	log *slog.Logger

	mu      sync.Mutex
	conns   map[string]*cloudConn
	retired []*cloudConn // replaced by a reload, closed at Close
}

type cloudConn struct {
	mu    sync.Mutex
	cloud actions.Cloud
	sim   *simulator.Simulator // the built-in simulator, once started
}

// simulatorBuildDelay is how long a simulated server takes to become
// ACTIVE in the built-in simulator: long enough to watch progress.
const simulatorBuildDelay = 3 * time.Second

// simulatorQuotas are the built-in simulator's quotas: room for the demo
// to grow to a few hundred servers (Nova's defaults, 10 instances and 20
// cores, would stop it at ten).
var simulatorQuotas = map[string]int{"instances": 500, "cores": 2000, "ram": 4 << 20}

// Get returns the cloud called name, connecting if needed. A failed
// connection is not remembered: the next request tries again.
func (c *Clouds) Get(ctx context.Context, name string) (actions.Cloud, error) {
	c.mu.Lock()
	cc, ok := c.cfg[name]
	if !ok {
		c.mu.Unlock()
		return nil, actions.Errorf(actions.NotFound, "there is no cloud %q in the config", name)
	}
	conn := c.conns[name]
	if conn == nil {
		conn = &cloudConn{}
		c.conns[name] = conn
	}
	c.mu.Unlock()

	conn.mu.Lock()
	defer conn.mu.Unlock()
	if conn.cloud != nil {
		return conn.cloud, nil
	}
	auth := openstack.Auth{
		CloudsYAML: cc.CloudsYAML, Cloud: cc.Cloud,
		AuthURL: cc.AuthURL, Username: cc.Username, Password: cc.Password.Value(),
		ProjectName: cc.Project, ProjectID: cc.ProjectID,
		DomainName: cc.Domain, UserDomainName: cc.UserDomain, ProjectDomainName: cc.ProjectDomain,
		Region: cc.Region,
	}
	if cc.Simulator {
		if conn.sim == nil {
			sim := simulator.New(simulator.Options{BuildDelay: simulatorBuildDelay, Quotas: simulatorQuotas, Logger: c.log.With("component", "simulator")})
			if err := sim.Start("127.0.0.1:0"); err != nil {
				return nil, fmt.Errorf("starting the OpenStack simulator: %w", err)
			}
			conn.sim = sim
			c.log.Info("OpenStack simulator started", "cloud", name, "auth_url", sim.AuthURL())
		}
		auth = openstack.Auth{AuthURL: conn.sim.AuthURL(), Username: "admin", Password: "admin", ProjectName: "admin", DomainName: "Default"}
	}
	cl, err := openstack.New(ctx, auth, openstack.Options{Parallel: cc.Parallel, Logger: c.log.With("cloud", name)})
	if err != nil {
		return nil, err
	}
	conn.cloud = cl
	return cl, nil
}

// Close stops the simulators this process started.
func (c *Clouds) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range append(slices.Collect(maps.Values(c.conns)), c.retired...) {
		conn.mu.Lock()
		if conn.sim != nil {
			conn.sim.Close()
			conn.sim = nil
		}
		conn.mu.Unlock()
	}
}

// chatAdapters returns a function for each chat platform the config
// enables, and the public HTTP server when the config has one; each
// serves until ctx ends.
func chatAdapters(app *App) ([]func(context.Context) error, error) {
	var adapters []func(context.Context) error
	var public *publicServer
	if addr := app.Config.HTTP.Listen; addr != "" {
		var err error
		if public, err = newPublicServer(addr, app.Log); err != nil {
			return nil, err
		}
	}
	if app.Config.Slack != nil {
		serve, err := slackAdapter(app, public)
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		adapters = append(adapters, serve)
	}
	if app.Config.Discord != nil {
		serve, err := discordAdapter(app, public)
		if err != nil {
			return nil, fmt.Errorf("discord: %w", err)
		}
		adapters = append(adapters, serve)
	}
	if secrets := pagerDutySecrets(app.Config); len(secrets) > 0 && public != nil {
		public.Mount("/pagerduty/webhook", pagerduty.Webhook(secrets, app.OnCall, app.Log.With("component", "pagerduty")))
	}
	if public != nil {
		public.Mount("/ping/", app.Health.Handler())
		adapters = append(adapters, public.Serve)
	} else if app.Health.Heartbeats() > 0 {
		app.Log.Warn("heartbeat checks are declared but http.listen is not set: no job can ping them, and they will fail")
	}
	return adapters, nil
}

// loadConfig loads the file at path, or the built-in demo config when path
// is empty.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Demo()
	}
	return config.Load(path)
}
