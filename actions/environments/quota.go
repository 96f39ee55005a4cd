package environments

import (
	"context"
	"fmt"
	"strings"

	"github.com/infrabot/infrabot/actions"
)

// fits checks, before anything is created, that the servers conv would
// create fit in the project's quotas (Nova's instances, cores and RAM;
// Neutron's ports where the cloud reports them), counting what its
// deletions give back. When they do not, it refuses with what is short.
// Limits that cannot be read are logged and not checked: the cloud still
// refuses a create over quota, server by server.
func (x *Module) fits(ctx context.Context, env Environment, cl actions.Cloud, conv Convergence) error {
	if len(conv.Create) == 0 {
		return nil
	}
	lim, err := cl.Limits(ctx)
	if err != nil {
		x.h.Log().Warn("cannot read the cloud's limits; the plan is not checked against them", "env", env.Name, "cloud", env.Cloud, "err", err)
		return nil
	}
	var need struct{ instances, cores, ram, ports int }
	for _, s := range conv.Create {
		f, err := cl.Flavor(ctx, s.Flavor)
		if err != nil {
			return err // an unknown flavor: the create would fail anyway
		}
		need.instances++
		need.cores += f.VCPUs
		need.ram += f.RAMMB
		need.ports += max(len(s.Networks), 1)
	}
	for _, s := range conv.Delete {
		need.instances--
		need.ports--
		if f, err := cl.Flavor(ctx, s.Flavor); err == nil {
			need.cores -= f.VCPUs
			need.ram -= f.RAMMB
		}
	}
	var short []string
	check := func(what string, n int, u actions.Usage, unit string) {
		free, limited := u.Free()
		if !limited || n <= free {
			return
		}
		short = append(short, fmt.Sprintf("%s: needs %d%s more, %d%s free (quota %d%s, %d%s used)", what, n, unit, free, unit, u.Max, unit, u.Used, unit))
	}
	check("instances", need.instances, lim.Instances, "")
	check("cores", need.cores, lim.Cores, "")
	check("RAM", need.ram, lim.RAMMB, " MB")
	if lim.PortsKnown {
		check("ports", need.ports, lim.Ports, "")
	}
	if len(short) == 0 {
		return nil
	}
	return actions.Errorf(actions.Conflict, "%s does not fit in cloud %s, so nothing was created: %s. Ask for a larger quota, or declare fewer or smaller servers",
		env.Name, env.Cloud, strings.Join(short, "; "))
}
