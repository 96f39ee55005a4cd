// Package config loads and validates infrabot's YAML configuration.
//
// Loading is strict: an unknown key, a value of the wrong type, a reference
// to an undeclared role, person or cloud, and a literal value where a secret
// belongs are all errors, each reported with the file and line it is on.
// Secrets are never written in the file: fields that hold one take a
// reference, ${env:NAME} or ${file:/path}, resolved when the file is loaded.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/infrabot/infrabot/actions"
)

// Config is the whole configuration file.
type Config struct {
	Storage      Storage                `yaml:"storage"`
	People       map[string]Person      `yaml:"people"`
	Roles        map[string]Role        `yaml:"roles"`
	Approvals    []ApprovalRule         `yaml:"approvals"`
	Clouds       map[string]Cloud       `yaml:"clouds"`
	Environments map[string]Environment `yaml:"environments"`
	Slack        *Slack                 `yaml:"slack"`
	Discord      *Discord               `yaml:"discord"`
	HTTP         HTTP                   `yaml:"http"`
	Admin        Admin                  `yaml:"admin"`
	Shutdown     Shutdown               `yaml:"shutdown"`
	Log          Log                    `yaml:"log"`
	// Channels are the places infrabot speaks in, by name, each with its
	// id on every platform it exists on. On the console every channel
	// exists, printed as [#NAME].
	Channels map[string]Channel `yaml:"channels"`
	// ApprovalsChannel names the channel where approval requests typed in
	// a direct message or the console are posted; "default" when a
	// channel of that name exists and this is not set.
	ApprovalsChannel string `yaml:"approvals_channel"`
	// Checks are the health checks (docs/health-checks.md).
	Checks []Check `yaml:"checks"`
	// OnCall are the on-call schedules and escalations, PagerDuty the
	// services they page and Webhooks the endpoints (docs/oncall.md).
	OnCall    OnCall             `yaml:"oncall"`
	PagerDuty PagerDuty          `yaml:"pagerduty"`
	Webhooks  map[string]Webhook `yaml:"webhooks"`

	// CI are the CI systems infrabot watches, Squads who owns which
	// jobs, Digests the scheduled status digests.
	CI      []CISource       `yaml:"ci"`
	Squads  map[string]Squad `yaml:"squads"`
	Digests []Digest         `yaml:"digests"`

	// Path is the file the configuration was read from.
	Path string `yaml:"-"`
	// Warnings are things that load but will not work as meant, such as
	// an approval rule nobody can ever meet. Load still succeeds.
	Warnings Problems `yaml:"-"`

	root *yaml.Node // the parsed file, for the lines of later checks
}

// HTTP is infrabot's one public HTTP server: Slack's and Discord's
// endpoints and heartbeat pings are all served on it.
type HTTP struct {
	// Listen is the address to serve on, e.g. 127.0.0.1:3000 behind a
	// TLS-terminating proxy. Empty: no public server.
	Listen string `yaml:"listen"`
}

// Admin is the admin listener: /healthz, /readyz and /metrics, for the
// operators' probes and Prometheus. It is never the public server.
type Admin struct {
	// Listen is the address to serve on; default DefaultAdminListen.
	// "off" serves no admin endpoints.
	Listen string `yaml:"listen"`
}

// DefaultAdminListen is where the admin endpoints are served when the
// config does not say: loopback only.
const DefaultAdminListen = "127.0.0.1:9090"

// Shutdown says how `infrabot run` stops on SIGTERM or SIGINT.
type Shutdown struct {
	// Grace is how long runs in flight may go on to finish before they
	// are cancelled and recorded as interrupted; default
	// DefaultShutdownGrace.
	Grace Duration `yaml:"grace"`
}

// DefaultShutdownGrace is the grace period when the config does not say.
const DefaultShutdownGrace = 60 * time.Second

// Channel is one named channel's id on each platform.
type Channel struct {
	Slack   string `yaml:"slack"`
	Discord string `yaml:"discord"`
}

// Storage says where infrabot keeps its state.
type Storage struct {
	// Path of the bbolt file; relative paths are relative to the working
	// directory. Default ./data/infrabot.db.
	Path string `yaml:"path"`
}

// Person is someone infrabot knows, with their roles and chat identities.
type Person struct {
	Roles   []string `yaml:"roles"`
	Slack   string   `yaml:"slack"`
	Discord string   `yaml:"discord"`
}

// Role grants actions, on some environments, and may inherit other roles.
type Role struct {
	Inherit []string `yaml:"inherit"`
	Allow   []string `yaml:"allow"`
	// Environments the role's own actions apply to. Omitted means every
	// environment.
	Environments []string `yaml:"environments"`
}

// ApprovalRule says which actions on which environments need a second
// person's approval, who may give it, and how long a request stays open.
type ApprovalRule struct {
	Actions      []string `yaml:"actions"`
	Environments []string `yaml:"environments"`
	Approvers    []string `yaml:"approvers"`
	Expires      Duration `yaml:"expires"`
}

// Log configures infrabot's own log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error; default info
	Format string `yaml:"format"` // text or json; default text
}

// Duration is a time.Duration written as Go writes it ("15m", "90s"), or
// in whole days ("14d").
type Duration time.Duration

// UnmarshalYAML reads a duration such as "15m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, ok := actions.ParseDuration(n.Value)
	if !ok {
		return lineError(n, "%q is not a duration (write it like 90s, 15m, 2h or 14d)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File    string
	Line    int
	Message string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Message)
}

// Problems is every problem found in a file. It is the error Load returns
// when the file is not valid.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads, validates and resolves the configuration in path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data)
}

// Parse validates and resolves configuration data read from the named file.
// Relative paths in it (storage.path) are relative to the working
// directory, as for any command-line tool.
func Parse(name string, data []byte) (*Config, error) {
	c := &Config{Path: name}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{yamlProblem(name, err)}
	}
	c.root = &root
	v := validator{file: name, root: &root}
	v.checkShape(&root)
	probs := v.problems
	shapeLines := map[int]bool{}
	for _, p := range probs {
		shapeLines[p.Line] = true
	}
	if len(root.Content) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil {
			for _, p := range yamlProblems(name, err) {
				// The shape check has said it in our words already.
				if shapeLines[p.Line] && isGoTypeMessage(p.Message) {
					continue
				}
				probs = append(probs, p)
			}
		}
	}
	if len(probs) == 0 {
		// Checking what the values mean is only worth it once they have
		// the right shape: a misspelt key would otherwise also be "missing".
		v.problems = nil
		v.check(c)
		probs = v.problems
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return nil, probs
	}
	c.applyDefaults()
	c.Warnings = v.warnings(c)
	return c, nil
}

// isGoTypeMessage reports whether a decoding message is the YAML
// library's own, which speaks of Go types.
func isGoTypeMessage(msg string) bool {
	return strings.Contains(msg, "cannot unmarshal") || strings.Contains(msg, "not found in ")
}

// LoadStorage reads only the storage section of the file at path, with
// its default applied: what tools that work on the store alone (`infrabot
// audit verify`) need. It resolves no secret and checks nothing else, so
// it works on a host where the chat and cloud secrets are not set.
func LoadStorage(path string) (Storage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Storage{}, fmt.Errorf("reading config: %w", err)
	}
	var c struct {
		Storage Storage `yaml:"storage"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return Storage{}, Problems{yamlProblem(path, err)}
	}
	c.Storage.applyDefaults()
	return c.Storage, nil
}

// DefaultStoragePath is where the store is when the config does not say.
const DefaultStoragePath = "./data/infrabot.db"

func (s *Storage) applyDefaults() {
	if s.Path == "" {
		s.Path = DefaultStoragePath
	}
}

func (c *Config) applyDefaults() {
	c.Storage.applyDefaults()
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	if c.Shutdown.Grace == 0 {
		c.Shutdown.Grace = Duration(DefaultShutdownGrace)
	}
	if _, ok := c.Channels["default"]; ok && c.ApprovalsChannel == "" {
		c.ApprovalsChannel = "default"
	}
	for i := range c.Approvals {
		if c.Approvals[i].Expires == 0 {
			c.Approvals[i].Expires = Duration(DefaultApprovalExpiry)
		}
	}
	for name, cl := range c.Clouds {
		if cl.CloudsYAML != "" {
			cl.CloudsYAML = expandHome(cl.CloudsYAML)
			c.Clouds[name] = cl
		}
	}
	for name, env := range c.Environments {
		for i := range env.Bootstrap {
			defaultStep(&env.Bootstrap[i])
		}
		for _, steps := range env.Deploy {
			for i := range steps {
				defaultStep(&steps[i])
			}
		}
		c.Environments[name] = env
	}
}

// DefaultStepTimeout bounds a bootstrap or deploy step on one host when
// the step does not say.
const DefaultStepTimeout = 10 * time.Minute

func defaultStep(s *Step) {
	if s.Timeout == 0 {
		s.Timeout = Duration(DefaultStepTimeout)
	}
	if s.On == "" {
		s.On = "all"
	}
}

// DefaultApprovalExpiry is how long an approval request stays open when the
// rule that asked for it does not say.
const DefaultApprovalExpiry = 15 * time.Minute

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

func lineError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...))}}
}

// yamlProblems turns a decoding error into problems with line numbers.
func yamlProblems(file string, err error) Problems {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		ps := make(Problems, 0, len(te.Errors))
		for _, e := range te.Errors {
			ps = append(ps, parseYAMLMessage(file, e))
		}
		return ps
	}
	return Problems{yamlProblem(file, err)}
}

func yamlProblem(file string, err error) Problem {
	p := parseYAMLMessage(file, strings.TrimPrefix(err.Error(), "yaml: "))
	p.Message = "not valid YAML: " + p.Message
	return p
}

// parseYAMLMessage splits "line 3: message" into a problem.
func parseYAMLMessage(file, msg string) Problem {
	var line int
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, err := fmt.Sscanf(rest, "%d:", &line); n == 1 && err == nil {
			_, msg, _ = strings.Cut(rest, ": ")
		}
	}
	msg = strings.Replace(msg, " in type config.", " in ", 1)
	return Problem{File: file, Line: line, Message: msg}
}
