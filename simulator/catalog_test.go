package simulator_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
)

func TestFlavorsAreSeeded(t *testing.T) {
	c := newCloud(t)
	pages, err := flavors.ListDetail(c.compute, nil).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]flavors.Flavor{}
	for _, f := range all {
		got[f.Name] = f
	}
	if f := got["m1.tiny"]; f.ID != "1" || f.RAM != 512 || f.VCPUs != 1 || f.Disk != 1 || !f.IsPublic {
		t.Errorf("m1.tiny %+v", f)
	}
	for _, name := range []string{"m1.small", "m1.medium", "m1.large", "x1.impossible"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s in %v", name, all)
		}
	}
	if got["x1.impossible"].RAM <= got["m1.large"].RAM {
		t.Errorf("x1.impossible is not huge: %+v", got["x1.impossible"])
	}
	one, err := flavors.Get(t.Context(), c.compute, "2").Extract()
	if err != nil || one.Name != "m1.small" {
		t.Errorf("get 2: %+v, %v", one, err)
	}
	_, err = flavors.Get(t.Context(), c.compute, "nope").Extract()
	e := httpError(t, err, http.StatusNotFound)
	if got := field(t, decode(t, e.Body), "itemNotFound", "message"); got != "Flavor nope could not be found." {
		t.Errorf("message %q", got)
	}
}

func TestImagesListFilterAndShow(t *testing.T) {
	c := newCloud(t)
	pages, err := images.List(c.image, images.ListOpts{}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, err := images.ExtractImages(pages)
	if err != nil || len(all) != 2 {
		t.Fatalf("images %v, %v", all, err)
	}
	pages, err = images.List(c.image, images.ListOpts{Name: "cirros-0.6"}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	only, _ := images.ExtractImages(pages)
	if len(only) != 1 || only[0].Name != "cirros-0.6" {
		t.Fatalf("filtered %v", only)
	}
	img, err := images.Get(t.Context(), c.image, only[0].ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != images.ImageStatusActive || img.DiskFormat != "qcow2" || img.ContainerFormat != "bare" ||
		img.Visibility != images.ImageVisibilityPublic || img.SizeBytes == 0 || img.Checksum == "" || img.CreatedAt.IsZero() {
		t.Errorf("image %+v", img)
	}
	if img.Properties["os_distro"] != "cirros" {
		t.Errorf("properties %v", img.Properties)
	}

	// Paging with a limit follows Glance's relative "next" links.
	pages, err = images.List(c.image, images.ListOpts{Limit: 1}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if paged, _ := images.ExtractImages(pages); len(paged) != 2 {
		t.Errorf("paged through %d images, want 2", len(paged))
	}

	_, err = images.Get(t.Context(), c.image, "3f1b7a3e-0000-4000-8000-000000000000").Extract()
	e := httpError(t, err, http.StatusNotFound)
	body := decode(t, e.Body)
	if field(t, body, "code") != "404 Not Found" || !strings.HasPrefix(field(t, body, "message").(string), "No image found with ID 3f1b7a3e") {
		t.Errorf("glance 404 body %s", e.Body)
	}
}

func TestNetworksPortsAndSecurityGroups(t *testing.T) {
	c := newCloud(t)
	pages, err := networks.List(c.network, networks.ListOpts{}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	all, _ := networks.ExtractNetworks(pages)
	names := map[string]networks.Network{}
	for _, n := range all {
		names[n.Name] = n
	}
	if len(all) != 2 || names["private"].Status != "ACTIVE" || len(names["private"].Subnets) != 1 {
		t.Fatalf("networks %+v", all)
	}
	privateID := names["private"].ID
	if n, err := networks.Get(t.Context(), c.network, privateID).Extract(); err != nil || n.Name != "private" {
		t.Errorf("get private: %+v, %v", n, err)
	}
	_, err = networks.Get(t.Context(), c.network, "3f1b7a3e-0000-4000-8000-000000000000").Extract()
	e := httpError(t, err, http.StatusNotFound)
	if got := field(t, decode(t, e.Body), "NeutronError", "type"); got != "NetworkNotFound" {
		t.Errorf("neutron 404 body %s", e.Body)
	}

	s := c.create(t, c.serverOpts(t, "ported"))
	listPorts := func() []ports.Port {
		t.Helper()
		pages, err := ports.List(c.network, ports.ListOpts{DeviceID: s.ID}).AllPages(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ps, err := ports.ExtractPorts(pages)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	if ps := listPorts(); len(ps) != 0 {
		t.Errorf("ports before networking: %+v", ps)
	}
	c.clock.Advance(buildDelay)
	ps := listPorts()
	if len(ps) != 1 || ps[0].Status != "ACTIVE" || ps[0].NetworkID != privateID || ps[0].DeviceOwner != "compute:nova" {
		t.Fatalf("ports %+v", ps)
	}
	addr := c.get(t, s.ID).Addresses["private"].([]any)[0].(map[string]any)
	if ps[0].FixedIPs[0].IPAddress != addr["addr"] || ps[0].MACAddress != addr["OS-EXT-IPS-MAC:mac_addr"] {
		t.Errorf("port %+v does not match the server's address %v", ps[0], addr)
	}

	pages, err = groups.List(c.network, groups.ListOpts{Name: "default"}).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sgs, _ := groups.ExtractGroups(pages)
	if len(sgs) != 1 || len(sgs[0].Rules) != 4 {
		t.Errorf("security groups %+v", sgs)
	}
	if len(ps[0].SecurityGroups) != 1 || ps[0].SecurityGroups[0] != sgs[0].ID {
		t.Errorf("port groups %v, want [%s]", ps[0].SecurityGroups, sgs[0].ID)
	}

	status, _, body := do(t, "GET", c.sim.URL()+"/network/v2.0/networks?colour=blue", c.token(), nil)
	if status != http.StatusBadRequest || field(t, decode(t, body), "NeutronError", "type") != "HTTPBadRequest" {
		t.Errorf("unknown filter: %d %s", status, body)
	}
}

func TestKeypairs(t *testing.T) {
	c := newCloud(t)
	k, err := keypairs.Get(t.Context(), c.compute, "infrabot", nil).Extract()
	if err != nil || !strings.HasPrefix(k.PublicKey, "ssh-ed25519 ") || k.Fingerprint == "" {
		t.Fatalf("seeded key pair %+v, %v", k, err)
	}
	imported, err := keypairs.Create(t.Context(), c.compute, keypairs.CreateOpts{Name: "mine", PublicKey: k.PublicKey}).Extract()
	if err != nil || imported.Fingerprint != k.Fingerprint {
		t.Fatalf("import: %+v, %v", imported, err)
	}
	generated, err := keypairs.Create(t.Context(), c.compute, keypairs.CreateOpts{Name: "gen"}).Extract()
	if err != nil || !strings.Contains(generated.PrivateKey, "PRIVATE KEY") || !strings.HasPrefix(generated.PublicKey, "ssh-rsa ") {
		t.Fatalf("generate: %+v, %v", generated, err)
	}
	_, err = keypairs.Create(t.Context(), c.compute, keypairs.CreateOpts{Name: "mine", PublicKey: k.PublicKey}).Extract()
	httpError(t, err, http.StatusConflict)
	_, err = keypairs.Create(t.Context(), c.compute, keypairs.CreateOpts{Name: "junk", PublicKey: "ssh-rsa AAAA"}).Extract()
	httpError(t, err, http.StatusBadRequest)
	if err := keypairs.Delete(t.Context(), c.compute, "mine", nil).ExtractErr(); err != nil {
		t.Errorf("delete: %v", err)
	}
	_, err = keypairs.Get(t.Context(), c.compute, "mine", nil).Extract()
	httpError(t, err, http.StatusNotFound)
}

func TestUnknownPathsAndMethodsGetTheServicesErrors(t *testing.T) {
	c := newCloud(t)
	cases := []struct {
		method, path string
		status       int
		member       string
	}{
		{"GET", "/compute/v2.1/os-hypervisors", 404, "itemNotFound"},
		{"PATCH", "/compute/v2.1/servers", 405, "badMethod"},
		{"GET", "/network/v2.0/routers", 404, "NeutronError"},
		{"GET", "/v3/projects", 404, "error"},
		{"GET", "/image/v2/tasks", 404, "title"},
	}
	for _, tc := range cases {
		status, _, body := do(t, tc.method, c.sim.URL()+tc.path, c.token(), nil)
		if status != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, status, tc.status)
			continue
		}
		if _, ok := decode(t, body)[tc.member]; !ok {
			t.Errorf("%s %s: body %s lacks %q", tc.method, tc.path, body, tc.member)
		}
	}
}

func TestVersionDocumentsNeedNoToken(t *testing.T) {
	c := newCloud(t)
	for path, want := range map[string]int{"/compute/": 200, "/compute/v2.1/": 200, "/image/": 300, "/network/": 200, "/": 300} {
		status, _, body := do(t, "GET", c.sim.URL()+path, "", nil)
		if status != want || !strings.Contains(string(body), "version") {
			t.Errorf("GET %s: %d %s, want %d", path, status, body, want)
		}
	}
	_, _, body := do(t, "GET", c.sim.URL()+"/compute/v2.1/", "", nil)
	if got := field(t, decode(t, body), "version", "version"); got != "2.93" {
		t.Errorf("nova max microversion %v, want Zed's 2.93", got)
	}
}
