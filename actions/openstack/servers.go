package openstack

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/infrabot/infrabot/actions"
)

// Servers lists the servers infrabot owns for env. Nova is asked only for
// servers named "<env>-…" (infrabot's naming), but ownership is decided
// here, by the metadata alone: a server whose name matches and whose
// metadata does not is never returned.
func (c *Cloud) Servers(ctx context.Context, env string) ([]actions.Server, error) {
	if env == "" {
		return nil, actions.Errorf(actions.Invalid, "no environment given to list servers of")
	}
	opts := servers.ListOpts{Name: "^" + regexp.QuoteMeta(env) + "-"}
	pages, err := servers.List(c.compute, opts).AllPages(ctx)
	if err != nil {
		return nil, apiError("list servers of "+env, err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, apiError("list servers of "+env, err)
	}
	var owned []actions.Server
	for _, s := range all {
		if s.Metadata[actions.MetaManaged] != "true" || s.Metadata[actions.MetaEnv] != env {
			continue
		}
		if s.Status == actions.StatusError && s.Fault.Message == "" {
			// Nova's list leaves the fault out (seen on Zed); the server
			// itself has it, and "what is broken" is why people list.
			if full, err := servers.Get(ctx, c.compute, s.ID).Extract(); err == nil {
				s.Fault = full.Fault
			}
		}
		owned = append(owned, c.server(ctx, &s))
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i].Name < owned[j].Name })
	return owned, nil
}

// Create asks Nova for the server described by spec. As a guard against a
// server nobody would ever clean up, it refuses a spec whose metadata does
// not mark the server as infrabot's (actions.MetaManaged and MetaEnv).
//
// The create request is never retried: when its answer is lost the server
// may exist, and a second request would make two.
func (c *Cloud) Create(ctx context.Context, spec actions.ServerSpec) (actions.Server, error) {
	if spec.Name == "" {
		return actions.Server{}, actions.Errorf(actions.Invalid, "a server needs a name")
	}
	if spec.Metadata[actions.MetaManaged] != "true" || spec.Metadata[actions.MetaEnv] == "" {
		return actions.Server{}, actions.Errorf(actions.Invalid,
			"refusing to create server %s without infrabot's ownership metadata (%s, %s)",
			spec.Name, actions.MetaManaged, actions.MetaEnv)
	}
	if spec.Flavor == "" || spec.Image == "" {
		return actions.Server{}, actions.Errorf(actions.Invalid, "server %s needs a flavor and an image", spec.Name)
	}
	flavorID, err := c.names.flavorID(ctx, spec.Flavor)
	if err != nil {
		return actions.Server{}, err
	}
	imageID, err := c.names.imageID(ctx, spec.Image)
	if err != nil {
		return actions.Server{}, err
	}
	nets := make([]servers.Network, 0, len(spec.Networks))
	for _, n := range spec.Networks {
		id, err := c.names.networkID(ctx, n)
		if err != nil {
			return actions.Server{}, err
		}
		nets = append(nets, servers.Network{UUID: id})
	}
	create := servers.CreateOpts{
		Name:           spec.Name,
		FlavorRef:      flavorID,
		ImageRef:       imageID,
		SecurityGroups: spec.SecurityGroups,
		Metadata:       spec.Metadata,
	}
	if len(nets) > 0 {
		create.Networks = nets
	}
	var opts servers.CreateOptsBuilder = create
	if spec.KeyName != "" {
		opts = keypairs.CreateOptsExt{CreateOptsBuilder: create, KeyName: spec.KeyName}
	}

	created, err := servers.Create(ctx, c.compute, opts, nil).Extract()
	if err != nil {
		// no answer, a failure or an answer that cannot be read: Nova
		// may have made the server all the same
		if isNetworkError(err) || isServerError(err) || isDecodeError(err) {
			return actions.Server{}, &actions.Error{Kind: actions.Unavailable,
				Message: fmt.Sprintf("could not confirm that server %s was created (OpenStack failed or did not answer); "+
					"check the environment's status before trying again", spec.Name),
				Err: err}
		}
		return actions.Server{}, apiError("create server "+spec.Name, err)
	}
	c.log.InfoContext(ctx, "openstack: server created", "server", spec.Name, "id", created.ID)

	// Nova's create answer holds little more than the ID: ask for the
	// server itself, and settle for what we sent if that fails.
	s, err := servers.Get(ctx, c.compute, created.ID).Extract()
	if err != nil {
		c.log.WarnContext(ctx, "openstack: cannot read back new server", "server", spec.Name, "id", created.ID, "err", err)
		return actions.Server{
			ID:       created.ID,
			Name:     spec.Name,
			Status:   actions.StatusBuild,
			Flavor:   spec.Flavor,
			Image:    imageID,
			Created:  time.Now().UTC(),
			Metadata: maps.Clone(spec.Metadata),
		}, nil
	}
	return c.server(ctx, s), nil
}

// Delete deletes the server with the given ID. A server that is already
// gone is not an error. A server that is not infrabot's (no
// actions.MetaManaged) is refused: infrabot never deletes what it did not
// create.
func (c *Cloud) Delete(ctx context.Context, id string) error {
	s, err := servers.Get(ctx, c.compute, id).Extract()
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return apiError("look up server "+id+" to delete it", err)
	}
	if s.Metadata[actions.MetaManaged] != "true" {
		return actions.Errorf(actions.Permission, "server %s (%s) is not managed by infrabot; refusing to delete it", s.Name, id)
	}
	err = servers.Delete(ctx, c.compute, id).ExtractErr()
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return apiError("delete server "+s.Name, err)
	}
	c.log.InfoContext(ctx, "openstack: server deleted", "server", s.Name, "id", id)
	return nil
}

// server converts Nova's view of a server into infrabot's.
func (c *Cloud) server(ctx context.Context, s *servers.Server) actions.Server {
	out := actions.Server{
		ID:        s.ID,
		Name:      s.Name,
		Status:    s.Status,
		Fault:     s.Fault.Message,
		TaskState: s.TaskState,
		Addresses: addresses(s.Addresses),
		Created:   s.Created,
		Metadata:  s.Metadata,
	}
	if id, ok := s.Image["id"].(string); ok {
		out.Image = id
	}
	// microversion 2.47 and later embed the flavor with its name; before
	// that only its ID, which we look up
	if name, ok := s.Flavor["original_name"].(string); ok && name != "" {
		out.Flavor = name
	} else if id, ok := s.Flavor["id"].(string); ok {
		out.Flavor = c.names.flavorName(ctx, id)
	}
	return out
}

// addresses flattens Nova's {"net": [{"addr": "10.0.0.3", …}]} into a list
// of addresses, ordered by network name.
func addresses(byNet map[string]any) []string {
	nets := make([]string, 0, len(byNet))
	for n := range byNet {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	var out []string
	for _, n := range nets {
		list, _ := byNet[n].([]any)
		for _, a := range list {
			if m, ok := a.(map[string]any); ok {
				if addr, ok := m["addr"].(string); ok && addr != "" {
					out = append(out, addr)
				}
			}
		}
	}
	return out
}
