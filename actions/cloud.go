package actions

import (
	"context"
	"time"
)

// Metadata keys that mark a server as infrabot's. A server is owned by
// infrabot for environment E only when MetaManaged is "true" and MetaEnv is
// E; a server whose name merely looks like ours is never touched.
const (
	MetaManaged = "infrabot:managed"
	MetaEnv     = "infrabot:env"
)

// Server states as OpenStack Nova reports them, the ones infrabot acts on.
const (
	StatusBuild  = "BUILD"
	StatusActive = "ACTIVE"
	StatusError  = "ERROR"
)

// TaskDeleting is Nova's task state of a server whose delete was sent:
// Nova lists it, in its last status, until it is gone.
const TaskDeleting = "deleting"

// Server is one cloud server as infrabot sees it.
type Server struct {
	ID        string
	Name      string
	Status    string // Nova's status: BUILD, ACTIVE, ERROR, …
	Fault     string // Nova's fault message when Status is ERROR
	TaskState string // Nova's task state: "" when none, TaskDeleting, …
	Flavor    string // flavor name when the cloud reports it, else its ID
	Image     string // image ID
	Addresses []string
	Created   time.Time
	Metadata  map[string]string
}

// Env returns the environment the server belongs to, or "" when infrabot
// does not own it.
func (s Server) Env() string {
	if s.Metadata[MetaManaged] != "true" {
		return ""
	}
	return s.Metadata[MetaEnv]
}

// ServerSpec is what infrabot asks the cloud to create. Flavor, Image and
// Networks are names as people write them in config; the cloud resolves them.
type ServerSpec struct {
	Name           string
	Flavor         string
	Image          string
	Networks       []string
	KeyName        string
	SecurityGroups []string
	Metadata       map[string]string
}

// Cloud is the part of an OpenStack cloud that infrabot uses. Every method
// honours ctx cancellation. Errors a person can act on (quota exceeded, an
// unknown flavor, a server that went to ERROR) are returned as *Error values
// with a message fit for chat; anything else is wrapped with context.
type Cloud interface {
	// Servers lists the servers infrabot owns for env (see MetaManaged and
	// MetaEnv). Servers of other environments and servers infrabot does
	// not own are never returned.
	Servers(ctx context.Context, env string) ([]Server, error)

	// Create asks the cloud for a new server and returns it as first
	// reported, usually in BUILD.
	Create(ctx context.Context, spec ServerSpec) (Server, error)

	// WaitActive polls the server with backoff until it is ACTIVE. It
	// returns at once, with an error carrying Nova's fault message, when
	// the server goes to ERROR, and with a timeout error naming the last
	// state when ctx ends first. seen, when not nil, is called on every
	// state change.
	WaitActive(ctx context.Context, id string, seen func(Server)) (Server, error)

	// Delete deletes the server. Deleting a server that is already gone
	// is not an error.
	Delete(ctx context.Context, id string) error

	// WaitGone polls with backoff until the server no longer exists.
	WaitGone(ctx context.Context, id string) error

	// Resolve looks up every flavor, image and network specs name, as
	// Create would, so that a plan naming one the cloud lacks is refused
	// before anything is created. Names it cannot find give an Invalid
	// error naming each, in Create's words.
	Resolve(ctx context.Context, specs []ServerSpec) error

	// CloudLimits reads quotas and flavor sizes, so that a plan that
	// cannot fit is refused before anything is created.
	CloudLimits
}

// Usage is one of a project's limits and how much of it is used; Max < 0
// means unlimited.
type Usage struct {
	Max, Used int
}

// Free returns how much is left, and false when there is no limit.
func (u Usage) Free() (int, bool) {
	if u.Max < 0 {
		return 0, false
	}
	return max(u.Max-u.Used, 0), true
}

// Limits is what the project may use on the cloud and what it uses now.
// Ports is known only where the cloud reports Neutron's quotas.
type Limits struct {
	Instances, Cores, RAMMB Usage
	Ports                   Usage
	PortsKnown              bool
}

// Flavor is the size of a flavor: what one server of it counts against
// the project's quotas.
type Flavor struct {
	Name  string
	VCPUs int
	RAMMB int
}

// CloudLimits is how a plan learns whether it fits before anything is
// created. Clouds implement it beside Cloud.
type CloudLimits interface {
	// Limits reads the project's limits and usage.
	Limits(ctx context.Context) (Limits, error)
	// Flavor returns the size of the flavor called name (or with ID
	// name); an unknown flavor is an Invalid error.
	Flavor(ctx context.Context, name string) (Flavor, error)
}
