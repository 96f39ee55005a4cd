package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/infrabot/infrabot/actions"
)

// namePattern is what environment, server and role names may look like;
// environment and server names end up in server names on the cloud.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

type validator struct {
	file     string
	root     *yaml.Node
	problems Problems
}

func (v *validator) errorf(path []string, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.file, Line: v.line(path...), Message: fmt.Sprintf(format, args...)})
}

// line finds the line of the node at path (mapping keys, or sequence
// indexes as decimal strings), falling back to the deepest node found.
func (v *validator) line(path ...string) int {
	n := v.root
	if n == nil || len(n.Content) == 0 {
		return 0
	}
	n = n.Content[0]
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(p); err == nil && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func (v *validator) check(c *Config) {
	v.checkStorage(c)
	v.checkRoles(c)
	v.checkPeople(c)
	v.checkApprovals(c)
	v.checkClouds(c)
	v.checkEnvironments(c)
	v.checkSlack(c)
	v.checkDiscord(c)
	v.checkChannels(c)
	v.checkCI(c)
	v.checkChecks(c)
	v.checkOnCall(c)
	if l := c.Log.Level; l != "" && !slices.Contains([]string{"debug", "info", "warn", "error"}, l) {
		v.errorf([]string{"log", "level"}, "log level %q is not one of debug, info, warn, error", l)
	}
	if l := c.Admin.Listen; l != "" && l != "off" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			v.errorf([]string{"admin", "listen"}, "admin.listen %q is not host:port (like 127.0.0.1:9090), or off", l)
		} else if l == c.HTTP.Listen {
			v.errorf([]string{"admin", "listen"}, "admin.listen is the public server's address: the admin endpoints must have a listener of their own")
		}
	}
	if f := c.Log.Format; f != "" && f != "text" && f != "json" {
		v.errorf([]string{"log", "format"}, "log format %q is not text or json", f)
	}
}

func (v *validator) checkEnvName(c *Config, path []string, env string) {
	if env == "*" {
		return
	}
	if _, ok := c.Environments[env]; !ok && !v.implicitEnv(c, env) {
		v.errorf(path, "environment %q is not declared under environments", env)
	}
}

// implicitEnv allows policy to name environments before they are declared
// only when no environment is declared at all (a policy-only file).
func (v *validator) implicitEnv(c *Config, env string) bool {
	return len(c.Environments) == 0 && namePattern.MatchString(env)
}

func (v *validator) checkRoles(c *Config) {
	for name, r := range c.Roles {
		for i, in := range r.Inherit {
			if _, ok := c.Roles[in]; !ok {
				v.errorf([]string{"roles", name, "inherit", strconv.Itoa(i)}, "role %s inherits %q, which is not declared", name, in)
			}
		}
		for i, e := range r.Environments {
			v.checkEnvName(c, []string{"roles", name, "environments", strconv.Itoa(i)}, e)
		}
		if cycle := roleCycle(c.Roles, name, nil); cycle != nil {
			v.errorf([]string{"roles", name, "inherit"}, "role %s inherits itself: %v", name, cycle)
		}
	}
}

func roleCycle(roles map[string]Role, name string, seen []string) []string {
	if slices.Contains(seen, name) {
		return append(seen, name)
	}
	seen = append(seen, name)
	for _, in := range roles[name].Inherit {
		if c := roleCycle(roles, in, seen); c != nil {
			return c
		}
	}
	return nil
}

func (v *validator) checkPeople(c *Config) {
	slackIDs, discordIDs := map[string]string{}, map[string]string{}
	for name, p := range c.People {
		if !namePattern.MatchString(name) {
			v.errorf([]string{"people", name}, "person name %q must be lower case letters, digits and dashes", name)
		}
		for i, r := range p.Roles {
			if _, ok := c.Roles[r]; !ok {
				v.errorf([]string{"people", name, "roles", strconv.Itoa(i)}, "%s has role %q, which is not declared under roles", name, r)
			}
		}
		if p.Slack != "" {
			if other, dup := slackIDs[p.Slack]; dup {
				v.errorf([]string{"people", name, "slack"}, "slack id %s is given to both %s and %s", p.Slack, other, name)
			}
			slackIDs[p.Slack] = name
		}
		if p.Discord != "" {
			// Discord refuses a whole message whose allowed_mentions
			// lists anything but an id: every page of this person would
			// be lost.
			if !snowflake.MatchString(p.Discord) {
				v.errorf([]string{"people", name, "discord"}, "%s's discord id %q is not a Discord user id (a number like 401000000000000001, in quotes: with Developer Mode on, right-click the person, Copy User ID)", name, p.Discord)
			}
			if other, dup := discordIDs[p.Discord]; dup {
				v.errorf([]string{"people", name, "discord"}, "discord id %s is given to both %s and %s", p.Discord, other, name)
			}
			discordIDs[p.Discord] = name
		}
	}
}

func (v *validator) checkApprovals(c *Config) {
	for i, a := range c.Approvals {
		at := []string{"approvals", strconv.Itoa(i)}
		if len(a.Actions) == 0 {
			v.errorf(at, "approval rule %d names no actions", i+1)
		}
		for j, e := range a.Environments {
			v.checkEnvName(c, append(at, "environments", strconv.Itoa(j)), e)
		}
		if len(a.Approvers) == 0 {
			v.errorf(at, "approval rule %d names no approvers (roles whose holders may approve)", i+1)
		}
		for j, r := range a.Approvers {
			if _, ok := c.Roles[r]; !ok {
				v.errorf(append(at, "approvers", strconv.Itoa(j)), "approver role %q is not declared under roles", r)
			}
		}
	}
}

func (v *validator) checkClouds(c *Config) {
	for name, cl := range c.Clouds {
		at := []string{"clouds", name}
		if cl.Parallel < 0 {
			v.errorf(append(at, "parallel"), "parallel must be at least 1")
		}
		ways := 0
		if cl.CloudsYAML != "" || cl.Cloud != "" {
			ways++
			if cl.Cloud == "" {
				v.errorf(at, "cloud %s gives clouds_yaml but not which cloud in it (cloud: NAME)", name)
			}
		}
		if cl.Simulator {
			ways++
		}
		if cl.AuthURL != "" {
			ways++
			var missing []string
			if cl.Username == "" {
				missing = append(missing, "username")
			}
			if !cl.Password.IsSet() {
				missing = append(missing, "password")
			}
			if cl.Project == "" && cl.ProjectID == "" {
				missing = append(missing, "project")
			}
			if len(missing) > 0 {
				v.errorf(at, "cloud %s with auth_url also needs %s", name, andList(missing))
			}
		}
		switch {
		case ways == 0:
			v.errorf(at, "cloud %s needs clouds_yaml and cloud, or auth_url and credentials, or simulator: true", name)
		case ways > 1:
			v.errorf(at, "cloud %s mixes clouds_yaml, auth_url and simulator: choose one", name)
		}
	}
}

func (v *validator) checkEnvironments(c *Config) {
	for env, e := range c.Environments {
		at := []string{"environments", env}
		if !namePattern.MatchString(env) {
			v.errorf(at, "environment name %q must start with a letter and hold only lower case letters, digits and dashes", env)
		}
		if _, ok := c.Clouds[e.Cloud]; !ok {
			v.errorf(append(at, "cloud"), "environment %s uses cloud %q, which is not declared under clouds", env, e.Cloud)
		}
		if e.Parallel < 0 {
			v.errorf(append(at, "parallel"), "parallel must be at least 1")
		}
		seen := map[string]bool{}
		for i, s := range e.Servers {
			sat := append(at, "servers", strconv.Itoa(i))
			switch {
			case !namePattern.MatchString(s.Name):
				v.errorf(sat, "server name %q must start with a letter and hold only lower case letters, digits and dashes", s.Name)
			case seen[s.Name]:
				v.errorf(sat, "server %s is declared twice in %s", s.Name, env)
			}
			seen[s.Name] = true
			if s.Flavor == "" || s.Image == "" {
				v.errorf(sat, "server %s needs a flavor and an image", s.Name)
			}
			if s.Count != nil && (*s.Count < 0 || *s.Count > 100) {
				v.errorf(append(sat, "count"), "count must be between 0 and 100")
			}
		}
		v.checkDeploy(c, env, e)
	}
}

var (
	slackChannelID   = regexp.MustCompile(`^[CGD][A-Z0-9]{2,20}$`)
	discordChannelID = regexp.MustCompile(`^[0-9]{15,21}$`)
)

func (v *validator) checkChannels(c *Config) {
	for name, ch := range c.Channels {
		at := []string{"channels", name}
		if !namePattern.MatchString(name) {
			v.errorf(at, "channel name %q: use lower-case letters, digits and dashes", name)
		}
		if ch.Slack != "" && !slackChannelID.MatchString(ch.Slack) {
			v.errorf(append(at, "slack"), "%q is not a Slack channel id (like C0INFRA: copy it from the channel's details, not its name)", ch.Slack)
		}
		if ch.Discord != "" && !discordChannelID.MatchString(ch.Discord) {
			v.errorf(append(at, "discord"), "%q is not a Discord channel id (a number like 345678901234567890, in quotes)", ch.Discord)
		}
	}
	if a := c.ApprovalsChannel; a != "" {
		if _, ok := c.Channels[a]; !ok {
			v.errorf([]string{"approvals_channel"}, "approvals_channel %q is not declared under channels", a)
		}
	}
}

func (v *validator) checkSlack(c *Config) {
	s := c.Slack
	if s == nil {
		return
	}
	at := []string{"slack"}
	if s.MovedChannels.Kind != 0 {
		v.errorf(append(at, "channels"), "slack.channels has moved: declare channels at the top level, each with its id per platform (channels: {default: {slack: C0INFRA}}), and name the one for approval requests in approvals_channel")
	}
	switch s.Mode {
	case "http":
		if s.MovedListen.Kind != 0 {
			v.errorf(append(at, "listen"), "slack.listen has moved: infrabot serves Slack, Discord and heartbeat pings on one server, set as http: {listen: %s} at the top level", s.MovedListen.Value)
		} else if c.HTTP.Listen == "" {
			v.errorf(at, "slack http mode needs the public HTTP server: add http: {listen: 127.0.0.1:3000} at the top level")
		}
		if !s.SigningSecret.IsSet() {
			v.errorf(at, "slack http mode needs signing_secret")
		}
	case "socket":
		if !s.AppToken.IsSet() {
			v.errorf(at, "slack socket mode needs app_token")
		}
	default:
		v.errorf(append(at, "mode"), "slack mode %q is not http or socket", s.Mode)
	}
	if !s.BotToken.IsSet() {
		v.errorf(at, "slack needs bot_token")
	}
	// Slack's tokens say what they are; one in the other's place fails
	// only at connection time, with an error from Slack that names neither.
	if strings.HasPrefix(s.AppToken.Value(), "xoxb-") {
		v.errorf(append(at, "app_token"), "slack.app_token holds a bot token (it starts with xoxb-); app_token takes the app-level token, which starts with xapp-")
	}
	if strings.HasPrefix(s.BotToken.Value(), "xapp-") {
		v.errorf(append(at, "bot_token"), "slack.bot_token holds an app-level token (it starts with xapp-); bot_token takes the bot token, which starts with xoxb-")
	}
}

// CheckPermissions reports every name in a role's allow list or an
// approval rule's actions that is not among known (besides "*"), with the
// file and line it is on. known is the catalogue's list, which exists only
// once every module has registered its commands, hence a step of its own
// after Load.
func (c *Config) CheckPermissions(known []string) Problems {
	v := validator{file: c.Path, root: c.root}
	for _, name := range slices.Sorted(maps.Keys(c.Roles)) {
		for i, a := range c.Roles[name].Allow {
			if a != "*" && !slices.Contains(known, a) {
				v.errorf([]string{"roles", name, "allow", strconv.Itoa(i)}, "role %s allows %q, which is not a command%s", name, a, didYouMean(a, known))
			}
		}
	}
	for i, a := range c.Approvals {
		for j, name := range a.Actions {
			if name != "*" && !slices.Contains(known, name) {
				v.errorf([]string{"approvals", strconv.Itoa(i), "actions", strconv.Itoa(j)}, "approval rule %d names %q, which is not a command%s", i+1, name, didYouMean(name, known))
			}
		}
	}
	if len(v.problems) == 0 {
		return nil
	}
	return v.problems
}

func didYouMean(name string, among []string) string {
	if near := actions.Nearest(name, among); near != "" {
		return fmt.Sprintf(" (did you mean `%s`?)", near)
	}
	return ""
}

// andList writes names as people do: "a", "a and b", "a, b and c".
func andList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// notHTTPURL says that s, the value of the key called name, is not an
// http(s) URL. It quotes s only when s parses and holds no @: a URL with
// a user and password is not printed, nor is one that does not parse,
// which may be one whose password holds a #, a space or a stray %.
func notHTTPURL(name, s string) string {
	if _, err := url.Parse(s); err == nil && !strings.Contains(s, "@") {
		return fmt.Sprintf("%s %q is not an http(s) URL", name, s)
	}
	return name + " is not an http(s) URL (not shown, as it may hold a password)"
}

// checkStorage catches a storage.path that cannot work before anything is
// opened: a directory, a file that cannot be written, or a place where the
// file cannot be created.
func (v *validator) checkStorage(c *Config) {
	p := c.Storage.Path
	if p == "" {
		p = DefaultStoragePath
	}
	at := []string{"storage", "path"}
	st, err := os.Stat(p)
	switch {
	case err == nil && st.IsDir():
		v.errorf(at, "storage.path %s is a directory; give the file to keep state in, such as %s", p, filepath.Join(p, "infrabot.db"))
		return
	case err == nil:
		if werr := writable(p); werr != nil {
			v.errorf(at, "storage.path %s cannot be written: %v", p, werr)
		}
		return
	}
	// The file does not exist yet: storage creates it and its missing
	// directories, inside the nearest directory that exists.
	dir := filepath.Dir(p)
	for {
		st, err := os.Stat(dir)
		if err == nil {
			if !st.IsDir() {
				v.errorf(at, "storage.path %s cannot be created: %s is a file, not a directory", p, dir)
			} else if werr := writable(dir); werr != nil {
				v.errorf(at, "storage.path %s cannot be created: directory %s cannot be written: %v", p, dir, werr)
			}
			return
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return
		}
		dir = parent
	}
}

var snowflake = regexp.MustCompile(`^[0-9]{15,21}$`)

func (v *validator) checkDiscord(c *Config) {
	d := c.Discord
	if d == nil {
		return
	}
	at := []string{"discord"}
	switch d.Mode {
	case "interactions":
		if d.MovedListen.Kind != 0 {
			v.errorf(append(at, "listen"), "discord.listen is not used: infrabot serves /discord/interactions on its one public server, set as http: {listen: %s} at the top level", d.MovedListen.Value)
		} else if c.HTTP.Listen == "" {
			v.errorf(at, "discord interactions mode needs the public HTTP server: add http: {listen: 127.0.0.1:3000} at the top level")
		}
		if !d.PublicKey.IsSet() {
			v.errorf(at, "discord interactions mode needs public_key (the application's public key, from General Information in the developer portal)")
		}
	case "gateway":
	default:
		v.errorf(append(at, "mode"), "discord mode %q is not interactions or gateway", d.Mode)
	}
	if !d.BotToken.IsSet() {
		v.errorf(at, "discord needs bot_token")
	}
	if !snowflake.MatchString(d.ApplicationID) {
		v.errorf(append(at, "application_id"), "discord application_id %q is not an id (a number like 123456789012345678, in quotes)", d.ApplicationID)
	}
	if d.GuildID != "" && !snowflake.MatchString(d.GuildID) {
		v.errorf(append(at, "guild_id"), "discord guild_id %q is not an id (a number like 234567890123456789, in quotes)", d.GuildID)
	}
}
