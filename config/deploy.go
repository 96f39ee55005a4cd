package config

import (
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/infrabot/infrabot/actions/deploy"
)

// SSH is how infrabot reaches an environment's servers to run its
// bootstrap and deploy steps.
type SSH struct {
	User       string `yaml:"user"`
	Port       int    `yaml:"port"` // default 22
	PrivateKey Secret `yaml:"private_key"`
	Passphrase Secret `yaml:"passphrase"` // when the private key is encrypted
	// Agent also offers the keys of the ssh-agent at $SSH_AUTH_SOCK.
	Agent bool `yaml:"agent"`
	// KnownHosts is a known_hosts file (OpenSSH's format).
	KnownHosts string `yaml:"known_hosts"`
	// HostKeys pins host keys, each a known_hosts line naming its hosts
	// plainly: "10.0.0.5 ssh-ed25519 AAAA…".
	HostKeys []string `yaml:"host_keys"`
	// TrustOnFirstUse accepts and records the key of a host never seen
	// before (audited). Off by default: unknown hosts are refused.
	TrustOnFirstUse bool     `yaml:"trust_on_first_use"`
	Bastion         *Bastion `yaml:"bastion"`
	// ConnectTimeout bounds connecting to one host. Default 15s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// Parallel bounds how many hosts run a step at once. Default 4.
	Parallel int `yaml:"parallel"`
	// ReadyTimeout bounds how long bootstrap waits for SSH to come up on
	// a server provision created. Default 5m.
	ReadyTimeout Duration `yaml:"ready_timeout"`
}

// Bastion is the jump host every SSH connection goes through.
type Bastion struct {
	Host string `yaml:"host"` // host or host:port
	User string `yaml:"user"` // default: ssh.user
}

// Step is one command of a deploy target or of bootstrap.
type Step struct {
	Run string `yaml:"run"`
	// On says where the step runs: all (the default: every server of the
	// environment), bastion, or the name of a server declaration.
	On string `yaml:"on"`
	// Timeout bounds the step on each host. Default 10m.
	Timeout Duration `yaml:"timeout"`
	// KeepGoing lets the other hosts finish when one fails; by default
	// the first failure stops the step everywhere.
	KeepGoing bool `yaml:"keep_going"`
}

// Param is a value people may give a deploy, --NAME=VALUE, checked
// against Pattern (which must match the whole value).
type Param struct {
	Pattern string  `yaml:"pattern"`
	Default *string `yaml:"default"`
}

var paramName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

func (v *validator) checkDeploy(c *Config, env string, e Environment) {
	at := []string{"environments", env}
	for name, p := range e.Params {
		pat := append(at, "params", name)
		if !paramName.MatchString(name) {
			v.errorf(pat, "parameter name %q must be lower case letters, digits and underscores", name)
		}
		re, err := deploy.CompilePattern(p.Pattern)
		if err != nil {
			v.errorf(pat, "parameter %s: pattern: %v", name, err)
			continue
		}
		if p.Default != nil && !re.MatchString(*p.Default) {
			v.errorf(append(pat, "default"), "the default of %s does not match its pattern", name)
		}
	}
	// ssh settings are checked even with no steps: ssh checks use them.
	if e.SSH != nil {
		v.checkSSH(append(at, "ssh"), e.SSH)
	}
	if len(e.Bootstrap) == 0 && len(e.Deploy) == 0 {
		return
	}
	if e.SSH == nil {
		v.errorf(at, "environment %s has bootstrap or deploy steps, but no ssh settings to run them with", env)
	}
	servers := map[string]bool{}
	for _, s := range e.Servers {
		servers[s.Name] = true
	}
	checkSteps := func(sat []string, steps []Step) {
		for i, s := range steps {
			st := append(append([]string(nil), sat...), strconv.Itoa(i))
			if strings.TrimSpace(s.Run) == "" {
				v.errorf(st, "step %d has nothing to run (run: COMMAND)", i+1)
				continue
			}
			cmd, err := deploy.ParseCommand(s.Run)
			if err != nil {
				v.errorf(append(st, "run"), "%v", err)
			} else {
				for _, p := range cmd.Params() {
					if _, ok := e.Params[p]; !ok {
						v.errorf(append(st, "run"), "the command uses {{ .%s }}, which is not declared under params", p)
					}
				}
			}
			switch {
			case s.On == "" || s.On == "all":
			case s.On == "bastion":
				if e.SSH != nil && e.SSH.Bastion == nil {
					v.errorf(append(st, "on"), "the step runs on the bastion, but ssh.bastion is not set")
				}
			case !servers[s.On]:
				v.errorf(append(st, "on"), "on: %q is not all, bastion, or a server declared in %s", s.On, env)
			}
		}
	}
	checkSteps(append(at, "bootstrap"), e.Bootstrap)
	for name, steps := range e.Deploy {
		dat := append(at, "deploy", name)
		if !namePattern.MatchString(name) {
			v.errorf(dat, "deploy target name %q must start with a letter and hold only lower case letters, digits and dashes", name)
		}
		if len(steps) == 0 {
			v.errorf(dat, "deploy target %s has no steps", name)
		}
		checkSteps(dat, steps)
	}
}

func (v *validator) checkSSH(at []string, s *SSH) {
	if s.User == "" {
		v.errorf(at, "ssh needs user")
	}
	if !s.PrivateKey.IsSet() && !s.Agent {
		v.errorf(at, "ssh needs private_key (a secret reference such as ${file:/etc/infrabot/id_ed25519}) or agent: true")
	}
	if s.KnownHosts == "" && len(s.HostKeys) == 0 && !s.TrustOnFirstUse {
		v.errorf(at, "ssh needs a way to verify host keys: known_hosts, host_keys, or trust_on_first_use: true")
	}
	for i, l := range s.HostKeys {
		if len(strings.Fields(l)) < 3 {
			v.errorf(append(at, "host_keys", strconv.Itoa(i)), "a pinned host key is a known_hosts line: HOST TYPE KEY")
		}
	}
	if s.Port < 0 || s.Port > 65535 {
		v.errorf(append(at, "port"), "port %d is not a TCP port", s.Port)
	}
	if s.Parallel < 0 {
		v.errorf(append(at, "parallel"), "parallel must be at least 1")
	}
	if s.ReadyTimeout < 0 {
		v.errorf(append(at, "ready_timeout"), "ready_timeout must be positive")
	}
	if s.Bastion != nil && s.Bastion.Host == "" {
		v.errorf(append(at, "bastion"), "bastion needs host")
	}
}

// SecretValues returns the value of every secret in the configuration,
// for redaction: output that reaches chat, logs or the store is scrubbed
// of them.
func (c *Config) SecretValues() []string {
	var out []string
	collectSecrets(reflect.ValueOf(c), &out)
	sort.Strings(out)
	return out
}

var secretType = reflect.TypeOf(Secret{})

func collectSecrets(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectSecrets(v.Elem(), out)
		}
	case reflect.Struct:
		if v.Type() == secretType {
			if s := v.Interface().(Secret); s.value != "" {
				*out = append(*out, s.value)
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				collectSecrets(v.Field(i), out)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			collectSecrets(v.Index(i), out)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			collectSecrets(it.Value(), out)
		}
	}
}
