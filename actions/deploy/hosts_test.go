package deploy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions"
	"github.com/infrabot/infrabot/actions/deploy"
)

// Hosts finds the hosts an `on:` names as a deploy step would: a
// declaration's servers, all of them, the bastion; a server not ACTIVE
// or an environment without ssh settings is an error that says so.
func TestHostsForOn(t *testing.T) {
	t.Parallel()
	env := deploy.Environment{Servers: []string{"promoter", "logserver"}, Bastion: "10.0.0.1:2222"}
	s := newStory(t, env, func(*actions.Handle, string) deploy.Remote { return nil })
	s.inv.set("staging",
		server("staging", "promoter-1", "10.0.0.5"), server("staging", "promoter-2", "10.0.0.6"),
		server("staging", "logserver-1", "10.0.0.7"))
	ctx := context.Background()
	for _, c := range []struct{ env, on, want string }{
		{"staging", "promoter", "staging-promoter-1=10.0.0.5 staging-promoter-2=10.0.0.6"},
		{"staging", "all", "staging-logserver-1=10.0.0.7 staging-promoter-1=10.0.0.5 staging-promoter-2=10.0.0.6"},
		{"staging", "", "staging-logserver-1=10.0.0.7 staging-promoter-1=10.0.0.5 staging-promoter-2=10.0.0.6"},
		{"staging", "bastion", "bastion=10.0.0.1:2222"},
		{"staging", "registry", "error: staging has no registry servers to run it on"},
		{"scratch", "all", "error: scratch has no ssh settings"},
	} {
		hosts, err := s.mod.Hosts(ctx, c.env, c.on)
		var got []string
		for _, h := range hosts {
			got = append(got, h.Name+"="+h.Addr)
		}
		g := strings.Join(got, " ")
		if err != nil {
			g = "error: " + actions.ErrorMessage(err)
		}
		if !strings.HasPrefix(g, c.want) {
			t.Errorf("Hosts(%s, %q) = %q, want %q", c.env, c.on, g, c.want)
		}
	}
	down := server("staging", "promoter-2", "")
	down.Status, down.Addresses = "ERROR", nil
	s.inv.set("staging", server("staging", "promoter-1", "10.0.0.5"), down)
	if _, err := s.mod.Hosts(ctx, "staging", "promoter"); !strings.Contains(actions.ErrorMessage(err), "staging-promoter-2 (ERROR) not ACTIVE") {
		t.Errorf("a server in ERROR: %v", err)
	}
}
