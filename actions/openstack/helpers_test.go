package openstack_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
)

// testWriter sends a logger's lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func contains(s, sub string) bool { return sub != "" && strings.Contains(s, sub) }

// rawClients returns gophercloud's own Nova and Neutron clients for an
// authenticated provider, and the project its token is scoped to: the
// contract uses them behind the Cloud's back.
func rawClients(t testing.TB, provider *gophercloud.ProviderClient, eo gophercloud.EndpointOpts) (compute, network *gophercloud.ServiceClient, project string) {
	t.Helper()
	var err error
	if compute, err = gopenstack.NewComputeV2(provider, eo); err != nil {
		t.Fatal(err)
	}
	if network, err = gopenstack.NewNetworkV2(provider, eo); err != nil {
		t.Fatal(err)
	}
	res, ok := provider.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("unexpected auth result %T", provider.GetAuthResult())
	}
	p, err := res.ExtractProject()
	if err != nil || p == nil {
		t.Fatalf("token has no project: %v", err)
	}
	return compute, network, p.ID
}

// networkID returns the ID of the one network called name.
func networkID(t testing.TB, network *gophercloud.ServiceClient, name string) string {
	t.Helper()
	pages, err := networks.List(network, networks.ListOpts{Name: name}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	nets, err := networks.ExtractNetworks(pages)
	if err != nil || len(nets) != 1 {
		t.Fatalf("network %s: %v (%d found)", name, err, len(nets))
	}
	return nets[0].ID
}
