package config

import "go.yaml.in/yaml/v3"

// Cloud is an OpenStack cloud infrabot can provision on. It is given in one
// of three ways: a clouds.yaml file and a cloud name in it; inline auth; or
// simulator: true, which starts infrabot's built-in OpenStack simulator on
// loopback (for trying infrabot out and for tests).
type Cloud struct {
	CloudsYAML string `yaml:"clouds_yaml"`
	Cloud      string `yaml:"cloud"`

	Simulator bool `yaml:"simulator"`

	AuthURL       string `yaml:"auth_url"`
	Username      string `yaml:"username"`
	Password      Secret `yaml:"password"`
	Project       string `yaml:"project"`
	ProjectID     string `yaml:"project_id"`
	Domain        string `yaml:"domain"`         // user and project domain unless given apart; default "Default"
	UserDomain    string `yaml:"user_domain"`    // overrides Domain for the user
	ProjectDomain string `yaml:"project_domain"` // overrides Domain for the project
	Region        string `yaml:"region"`
	// Parallel bounds the requests infrabot has in flight to this cloud
	// at once, and is how many servers each of its environments creates
	// or deletes at once unless the environment says. Default 20.
	Parallel int `yaml:"parallel"`
}

// Environment is a set of servers infrabot keeps as declared.
type Environment struct {
	Cloud   string       `yaml:"cloud"`
	Servers []ServerDecl `yaml:"servers"`
	// Timeout bounds how long one server may take to become ACTIVE or to
	// disappear. Default 10m.
	Timeout Duration `yaml:"timeout"`
	// Parallel bounds how many servers are created or deleted at once.
	// Default: the cloud's parallel.
	Parallel int `yaml:"parallel"`

	// SSH, Bootstrap, Deploy and Params are for running commands on the
	// environment's servers (see docs/deploy.md): bootstrap after
	// provision creates servers, deploy targets on request.
	SSH       *SSH              `yaml:"ssh"`
	Bootstrap []Step            `yaml:"bootstrap"`
	Deploy    map[string][]Step `yaml:"deploy"`
	Params    map[string]Param  `yaml:"params"`
}

// ServerDecl declares Count servers named <env>-<name>-<n>.
type ServerDecl struct {
	Name           string   `yaml:"name"`
	Count          *int     `yaml:"count"` // default 1; 0 scales it away
	Flavor         string   `yaml:"flavor"`
	Image          string   `yaml:"image"`
	Networks       []string `yaml:"networks"`
	KeyName        string   `yaml:"key_name"`
	SecurityGroups []string `yaml:"security_groups"`
}

// Slack configures the Slack adapter.
type Slack struct {
	Mode string `yaml:"mode"` // http or socket
	// MovedListen catches the old slack.listen, now http.listen.
	MovedListen   yaml.Node `yaml:"listen"`
	SigningSecret Secret    `yaml:"signing_secret"`
	BotToken      Secret    `yaml:"bot_token"`
	AppToken      Secret    `yaml:"app_token"` // socket mode
	APIURL        string    `yaml:"api_url"`
	// MovedChannels catches the old slack.channels, which moved to the
	// top-level channels, so that config check can say where.
	MovedChannels yaml.Node `yaml:"channels"`
}

// Discord configures the Discord adapter.
type Discord struct {
	Mode string `yaml:"mode"` // interactions or gateway
	// MovedListen catches discord.listen: the Interactions Endpoint is
	// served on the public server, http.listen.
	MovedListen yaml.Node `yaml:"listen"`
	// PublicKey is the application's Ed25519 public key (hex), which
	// verifies interactions; interactions mode.
	PublicKey     Secret `yaml:"public_key"`
	BotToken      Secret `yaml:"bot_token"`
	ApplicationID string `yaml:"application_id"`
	// GuildID is the guild /infra is registered in; empty registers it
	// globally.
	GuildID string `yaml:"guild_id"`
	APIURL  string `yaml:"api_url"`
}
