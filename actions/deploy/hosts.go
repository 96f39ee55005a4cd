package deploy

import (
	"context"

	"github.com/infrabot/infrabot/actions"
)

// Hosts returns the hosts of environment env that on names ("all" or "",
// "bastion", or a server declaration), exactly as a step with that `on:`
// would run on them: every server ACTIVE with an address, or an error
// saying which are not. Health checks of type ssh use it, so that a
// check and a deploy reach the same hosts the same way.
func (m *Module) Hosts(ctx context.Context, env, on string) ([]Host, error) {
	e, ok := m.envs[env]
	if !ok {
		return nil, actions.Errorf(actions.Invalid, "%s has no ssh settings to run commands with", env)
	}
	var servers []actions.Server
	if on != Bastion {
		var err error
		if servers, err = m.servers(ctx, e); err != nil {
			return nil, err
		}
	}
	return hostsFor(e, on, servers, map[string]string{})
}
