package openstack

import (
	"context"
	"net/http"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/quotas"

	"github.com/infrabot/infrabot/actions"
)

// Limits reads Nova's absolute limits (instances, cores, RAM and their
// use) and, where the cloud has Neutron's quota API, the port quota and
// its use.
func (c *Cloud) Limits(ctx context.Context) (actions.Limits, error) {
	got, err := limits.Get(ctx, c.compute, nil).Extract()
	if err != nil {
		return actions.Limits{}, apiError("read the project's limits", err)
	}
	a := got.Absolute
	out := actions.Limits{
		Instances: actions.Usage{Max: a.MaxTotalInstances, Used: a.TotalInstancesUsed},
		Cores:     actions.Usage{Max: a.MaxTotalCores, Used: a.TotalCoresUsed},
		RAMMB:     actions.Usage{Max: a.MaxTotalRAMSize, Used: a.TotalRAMUsed},
	}
	project := c.projectID()
	if c.network == nil || project == "" {
		return out, nil
	}
	q, err := quotas.GetDetail(ctx, c.network, project).Extract()
	switch {
	case err == nil:
		out.Ports = actions.Usage{Max: q.Port.Limit, Used: q.Port.Used + q.Port.Reserved}
		out.PortsKnown = true
	case gophercloud.ResponseCodeIs(err, http.StatusNotFound), gophercloud.ResponseCodeIs(err, http.StatusForbidden):
		// no quota extension, or not allowed to read it: ports unknown
	default:
		// Nova's limits are what matter most; ports stay unknown.
		c.log.Warn("openstack: cannot read the port quota", "err", err)
	}
	return out, nil
}

// projectID is the project the token is scoped to, "" when unknown.
func (c *Cloud) projectID() string {
	res, ok := c.compute.ProviderClient.GetAuthResult().(tokens.CreateResult)
	if !ok {
		return ""
	}
	p, err := res.ExtractProject()
	if err != nil || p == nil {
		return ""
	}
	return p.ID
}

// Flavor returns the size of the flavor called name (or with ID name).
func (c *Cloud) Flavor(ctx context.Context, name string) (actions.Flavor, error) {
	id, err := c.names.flavorID(ctx, name)
	if err != nil {
		return actions.Flavor{}, err
	}
	c.names.flavorMu.Lock()
	f, ok := c.names.flavorSize[id]
	c.names.flavorMu.Unlock()
	if ok {
		return f, nil
	}
	got, err := flavors.Get(ctx, c.compute, id).Extract()
	if err != nil {
		return actions.Flavor{}, apiError("read flavor "+name, err)
	}
	f = actions.Flavor{Name: got.Name, VCPUs: got.VCPUs, RAMMB: got.RAM}
	c.names.flavorMu.Lock()
	if c.names.flavorSize == nil {
		c.names.flavorSize = map[string]actions.Flavor{}
	}
	c.names.flavorSize[id] = f
	c.names.flavorMu.Unlock()
	return f, nil
}
