package openstack_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/infrabot/infrabot/actions/openstack"
	"github.com/infrabot/infrabot/actions/openstack/contract"
	"github.com/infrabot/infrabot/simulator"
)

// startSim starts the in-repo OpenStack simulator on a free loopback port.
// Builds take long enough (800ms) that a server is seen in BUILD.
func startSim(t testing.TB) *simulator.Simulator {
	t.Helper()
	sim := simulator.New(simulator.Options{
		BuildDelay:  800 * time.Millisecond,
		DeleteDelay: 200 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// simAuth is the simulator's default admin login.
func simAuth(sim *simulator.Simulator) openstack.Auth {
	return openstack.Auth{AuthURL: sim.AuthURL(), Username: "admin", Password: "admin", ProjectName: "admin",
		DomainName: "Default"}
}

// fastPolls keeps the waits short against the simulator.
var fastPolls = openstack.Options{PollInitial: 50 * time.Millisecond, PollMax: 300 * time.Millisecond}

func newSimCloud(t testing.TB, auth openstack.Auth) *openstack.Cloud {
	t.Helper()
	opts := fastPolls
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := openstack.New(context.Background(), auth, opts)
	if err != nil {
		t.Fatalf("New against the simulator: %v", err)
	}
	return c
}

// simRaw logs in with gophercloud alone and returns Nova and Neutron
// clients and the project's ID.
func simRaw(t testing.TB, sim *simulator.Simulator) (compute, network *gophercloud.ServiceClient, project string) {
	t.Helper()
	provider, err := gopenstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: sim.AuthURL(), Username: "admin", Password: "admin", DomainName: "Default",
		Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainName: "Default"},
	})
	if err != nil {
		t.Fatalf("raw login to the simulator: %v", err)
	}
	return rawClients(t, provider, gophercloud.EndpointOpts{})
}

// TestSimContract runs the contract against the simulator, so that every
// `make test` checks the provider and the simulator against the same
// expectations as the real cloud.
func TestSimContract(t *testing.T) {
	sim := startSim(t)
	compute, network, project := simRaw(t, sim)
	contract.Run(t, contract.Harness{
		Cloud:            newSimCloud(t, simAuth(sim)),
		Raw:              compute,
		SetInstanceQuota: contract.NovaInstanceQuota(compute, project),
		Flavor:           "m1.tiny",
		Image:            simulator.ImageCirros,
		Network:          simulator.NetworkPrivate,
		NetworkID:        networkID(t, network, simulator.NetworkPrivate),
		ImpossibleFlavor: simulator.FlavorImpossible,
		Prefix:           contract.NewPrefix(),
		Timeout:          30 * time.Second,
	})
}

// TestSimCloudsYAML logs in through a clouds.yaml naming the simulator.
func TestSimCloudsYAML(t *testing.T) {
	sim := startSim(t)
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	yaml := "clouds:\n  sim:\n    auth:\n      auth_url: " + sim.AuthURL() + "\n" +
		"      username: admin\n      password: admin\n      project_name: admin\n" +
		"      user_domain_name: Default\n      project_domain_name: Default\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newSimCloud(t, openstack.Auth{CloudsYAML: path, Cloud: "sim"})
	if _, err := c.Servers(context.Background(), "staging"); err != nil {
		t.Fatalf("Servers: %v", err)
	}
}
