package simulator_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/infrabot/infrabot/simulator"
)

func TestServerGoesFromBuildToActive(t *testing.T) {
	c := newCloud(t)
	opts := c.serverOpts(t, "web-1")
	opts.Metadata = map[string]string{"infrabot:managed": "true", "infrabot:env": "staging"}
	opts.SecurityGroups = []string{"default"}
	created := c.create(t, keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: "infrabot"})
	if created.ID == "" || created.AdminPass == "" || len(created.Links) != 2 {
		t.Fatalf("create answer %+v lacks id, adminPass or links", created)
	}

	s := c.get(t, created.ID)
	if s.Status != "BUILD" || s.TaskState != "scheduling" || s.VmState != "building" {
		t.Errorf("just created: status %s, task %q, vm %q", s.Status, s.TaskState, s.VmState)
	}
	if len(s.Addresses) != 0 || s.HostID != "" {
		t.Errorf("unscheduled server has addresses %v, hostId %q", s.Addresses, s.HostID)
	}

	c.clock.Advance(buildDelay / 2)
	if s = c.get(t, created.ID); s.Status != "BUILD" || s.TaskState != "networking" || s.HostID == "" {
		t.Errorf("half built: status %s, task %q, hostId %q", s.Status, s.TaskState, s.HostID)
	}

	c.clock.Advance(buildDelay)
	s = c.get(t, created.ID)
	if s.Status != "ACTIVE" || s.VmState != "active" || s.TaskState != "" || s.PowerState != servers.RUNNING {
		t.Fatalf("built: status %s, vm %q, task %q, power %v", s.Status, s.VmState, s.TaskState, s.PowerState)
	}
	if s.Name != "web-1" || s.KeyName != "infrabot" || s.Metadata["infrabot:env"] != "staging" {
		t.Errorf("server %+v does not carry what was asked", s)
	}
	if s.Flavor["id"] != opts.FlavorRef || s.Image["id"] != opts.ImageRef {
		t.Errorf("flavor %v, image %v; want ids %s, %s", s.Flavor, s.Image, opts.FlavorRef, opts.ImageRef)
	}
	if s.LaunchedAt.IsZero() || !s.Updated.After(s.Created) || s.TenantID == "" || s.UserID == "" {
		t.Errorf("launched %v, created %v, updated %v, tenant %q, user %q", s.LaunchedAt, s.Created, s.Updated, s.TenantID, s.UserID)
	}
	addrs, _ := s.Addresses["private"].([]any)
	if len(addrs) != 1 {
		t.Fatalf("addresses %v, want one on private", s.Addresses)
	}
	addr := addrs[0].(map[string]any)
	if ip, _ := addr["addr"].(string); !strings.HasPrefix(ip, "10.0.0.") || addr["version"] != 4.0 || addr["OS-EXT-IPS:type"] != "fixed" {
		t.Errorf("address %v", addr)
	}
	if len(s.SecurityGroups) != 1 || s.SecurityGroups[0]["name"] != "default" {
		t.Errorf("security groups %v", s.SecurityGroups)
	}
}

func TestServerBuildsOnTheRealClock(t *testing.T) {
	sim := simulator.New(simulator.Options{BuildDelay: 20 * time.Millisecond, DeleteDelay: 20 * time.Millisecond})
	c := connect(t, sim, nil, simulator.Options{})
	s := c.create(t, c.serverOpts(t, "quick"))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if !waitFor(ctx, func() bool { return c.get(t, s.ID).Status == "ACTIVE" }) {
		t.Fatal("server never became ACTIVE")
	}
	if err := servers.Delete(t.Context(), c.compute, s.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	gone := waitFor(ctx, func() bool {
		_, err := servers.Get(t.Context(), c.compute, s.ID).Extract()
		return err != nil
	})
	if !gone {
		t.Fatal("server never went away")
	}
}

func TestDeletedServerLingersThenIsNotFound(t *testing.T) {
	c := newCloud(t)
	s := c.create(t, c.serverOpts(t, "db-1"))
	c.clock.Advance(buildDelay)

	if err := servers.Delete(t.Context(), c.compute, s.ID).ExtractErr(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	got := c.get(t, s.ID)
	if got.Status != "ACTIVE" || got.TaskState != "deleting" {
		t.Errorf("deleting: status %s, task %q; want ACTIVE, deleting", got.Status, got.TaskState)
	}
	if err := servers.Delete(t.Context(), c.compute, s.ID).ExtractErr(); err != nil {
		t.Errorf("second delete while deleting: %v", err)
	}

	c.clock.Advance(deleteDelay)
	_, err := servers.Get(t.Context(), c.compute, s.ID).Extract()
	e := httpError(t, err, http.StatusNotFound)
	body := decode(t, e.Body)
	want := fmt.Sprintf("Instance %s could not be found.", s.ID)
	if field(t, body, "itemNotFound", "message") != want || field(t, body, "itemNotFound", "code") != 404.0 {
		t.Errorf("body %s, want itemNotFound %q", e.Body, want)
	}
	err = servers.Delete(t.Context(), c.compute, s.ID).ExtractErr()
	httpError(t, err, http.StatusNotFound)

	pages, err := servers.List(c.compute, nil).AllPages(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := servers.ExtractServers(pages); len(all) != 0 {
		t.Errorf("deleted server still listed: %v", all)
	}
}

func TestListFiltersLikeNova(t *testing.T) {
	c := newCloud(t)
	for _, n := range []string{"staging-web-1", "staging-web-2", "prod-web-1"} {
		c.create(t, c.serverOpts(t, n))
		c.clock.Advance(time.Second) // Nova orders by creation time, then by id
	}
	c.clock.Advance(buildDelay)
	c.sim.StickInBuild("staging-db")
	c.create(t, c.serverOpts(t, "staging-db-1"))

	cases := []struct {
		name string
		opts servers.ListOpts
		want []string
	}{
		{"all, newest first", servers.ListOpts{}, []string{"staging-db-1", "prod-web-1", "staging-web-2", "staging-web-1"}},
		{"name is a regex", servers.ListOpts{Name: "^staging-web-[0-9]$"}, []string{"staging-web-2", "staging-web-1"}},
		{"name matches anywhere, any case", servers.ListOpts{Name: "WEB-1"}, []string{"prod-web-1", "staging-web-1"}},
		{"status", servers.ListOpts{Status: "BUILD"}, []string{"staging-db-1"}},
		{"unknown status matches nothing", servers.ListOpts{Status: "BOGUS"}, nil},
		{"limit pages through", servers.ListOpts{Limit: 1, Name: "staging"}, []string{"staging-db-1", "staging-web-2", "staging-web-1"}},
		{"ip regex", servers.ListOpts{IP: "^10\\.0\\.0\\."}, []string{"prod-web-1", "staging-web-2", "staging-web-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pages, err := servers.List(c.compute, tc.opts).AllPages(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			all, err := servers.ExtractServers(pages)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range all {
				names = append(names, s.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", names, tc.want)
			}
		})
	}
}

func TestMetadataCanBeReadAndReplaced(t *testing.T) {
	c := newCloud(t)
	opts := c.serverOpts(t, "meta")
	opts.Metadata = map[string]string{"a": "1"}
	s := c.create(t, opts)

	_, err := servers.UpdateMetadata(t.Context(), c.compute, s.ID, servers.MetadataOpts{"b": "2"}).Extract()
	httpError(t, err, http.StatusConflict)

	c.clock.Advance(buildDelay)
	md, err := servers.ResetMetadata(t.Context(), c.compute, s.ID, servers.MetadataOpts{"b": "2"}).Extract()
	if err != nil || len(md) != 1 || md["b"] != "2" {
		t.Fatalf("reset: %v, %v", md, err)
	}
	md, err = servers.UpdateMetadata(t.Context(), c.compute, s.ID, servers.MetadataOpts{"c": "3"}).Extract()
	if err != nil || len(md) != 2 || md["c"] != "3" {
		t.Fatalf("update: %v, %v", md, err)
	}
	md, err = servers.Metadata(t.Context(), c.compute, s.ID).Extract()
	if err != nil || md["b"] != "2" || md["c"] != "3" || md["a"] != "" {
		t.Errorf("metadata %v, %v", md, err)
	}
	if err := servers.DeleteMetadatum(t.Context(), c.compute, s.ID, "b").ExtractErr(); err != nil {
		t.Errorf("delete item: %v", err)
	}
	if got := c.get(t, s.ID).Metadata; len(got) != 1 || got["c"] != "3" {
		t.Errorf("after deleting b: %v", got)
	}
}

func TestMicroversionChangesTheFlavorShape(t *testing.T) {
	c := newCloud(t)
	s := c.create(t, c.serverOpts(t, "mv"))

	old := c.get(t, s.ID)
	if _, ok := old.Flavor["id"]; !ok || old.Flavor["original_name"] != nil {
		t.Errorf("2.1 flavor %v, want a reference", old.Flavor)
	}
	client := *c.compute
	client.Microversion = "2.47"
	got, err := servers.Get(t.Context(), &client, s.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if got.Flavor["original_name"] != "m1.small" || got.Flavor["ram"] != 2048.0 || got.Flavor["id"] != nil {
		t.Errorf("2.47 flavor %v, want it embedded", got.Flavor)
	}

	base := c.sim.URL() + "/compute/v2.1/servers/" + s.ID
	status, hdr, _ := do(t, "GET", base, c.token(), nil, "OpenStack-API-Version", "compute 2.60")
	if status != http.StatusOK || hdr.Get("OpenStack-API-Version") != "compute 2.60" {
		t.Errorf("2.60: status %d, version header %q", status, hdr.Get("OpenStack-API-Version"))
	}
	if status, _, body := do(t, "GET", base, c.token(), nil, "X-OpenStack-Nova-API-Version", "2.999"); status != http.StatusNotAcceptable {
		t.Errorf("2.999: status %d %s, want 406", status, body)
	}
	if status, _, body := do(t, "GET", base, c.token(), nil, "X-OpenStack-Nova-API-Version", "two"); status != http.StatusBadRequest {
		t.Errorf("bad version: status %d %s, want 400", status, body)
	}
}

func TestCreateRefusesWhatNovaRefuses(t *testing.T) {
	c := newCloud(t)
	good := c.serverOpts(t, "x")
	missing := "3f1b7a3e-0000-4000-8000-000000000000"
	cases := []struct {
		name    string
		change  func(o *servers.CreateOpts)
		status  int
		msg     string
		keyName string
	}{
		{"unknown flavor", func(o *servers.CreateOpts) { o.FlavorRef = "99" }, 400, "Flavor 99 could not be found.", ""},
		{"unknown image", func(o *servers.CreateOpts) { o.ImageRef = missing }, 400, "Can not find requested image", ""},
		{"image not a uuid", func(o *servers.CreateOpts) { o.ImageRef = "centos" }, 400, "Invalid input for field/attribute imageRef. Value: 'centos'. 'centos' is not valid under any of the given schemas", ""},
		{"unknown network", func(o *servers.CreateOpts) { o.Networks = []servers.Network{{UUID: missing}} }, 400, "Network " + missing + " could not be found.", ""},
		{"network not a uuid", func(o *servers.CreateOpts) { o.Networks = []servers.Network{{UUID: "private"}} }, 400, "Bad networks format: network uuid is not in proper format (private)", ""},
		{"no network chosen", func(o *servers.CreateOpts) { o.Networks = nil }, 409, "More than one possible network found. Specify network ID(s) to select which one(s) to connect to.", ""},
		{"unknown key", func(o *servers.CreateOpts) {}, 400, "Invalid key_name provided.", "nope"},
		{"unknown security group", func(o *servers.CreateOpts) { o.SecurityGroups = []string{"web"} }, 400, "Security group web not found.", ""},
		{"auto needs 2.37", func(o *servers.CreateOpts) { o.Networks = "auto" }, 400, "Invalid input for field/attribute networks. Value: 'auto'. 'auto' is not of type 'array'", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := good
			tc.change(&opts)
			var builder servers.CreateOptsBuilder = opts
			if tc.keyName != "" {
				builder = keypairs.CreateOptsExt{CreateOptsBuilder: opts, KeyName: tc.keyName}
			}
			_, err := servers.Create(t.Context(), c.compute, builder, nil).Extract()
			e := httpError(t, err, tc.status)
			name := map[int]string{400: "badRequest", 409: "conflictingRequest"}[tc.status]
			if got := field(t, decode(t, e.Body), name, "message"); got != tc.msg {
				t.Errorf("message %q, want %q", got, tc.msg)
			}
		})
	}
	pages, _ := servers.List(c.compute, nil).AllPages(t.Context())
	if all, _ := servers.ExtractServers(pages); len(all) != 0 {
		t.Errorf("refused creates left servers: %v", all)
	}
}

func TestMalformedBodiesAreNovaBadRequests(t *testing.T) {
	c := newCloud(t)
	url := c.sim.URL() + "/compute/v2.1/servers"
	cases := map[string]struct{ body, msg string }{
		"not json":        {`{"server": `, "Malformed request body"},
		"no server":       {`{}`, "'server' is a required property"},
		"no name":         {`{"server": {"flavorRef": "1"}}`, "Invalid input for field/attribute server. Value: {'flavorRef': '1'}. 'name' is a required property"},
		"name not string": {`{"server": {"name": 7, "flavorRef": "1"}}`, "Invalid input for field/attribute name. Value: 7. 7 is not of type 'string'"},
		"metadata number": {`{"server": {"name": "a", "flavorRef": "1", "imageRef": "` + c.imageID(t, "cirros-0.6") + `", "metadata": {"k": 1}}}`, "Invalid input for field/attribute k. Value: 1. 1 is not of type 'string'"},
		"no image":        {`{"server": {"name": "a", "flavorRef": "1"}}`, "Missing imageRef attribute"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			status, _, body := do(t, "POST", url, c.token(), tc.body)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, body %s", status, body)
			}
			if got := field(t, decode(t, body), "badRequest", "message"); got != tc.msg {
				t.Errorf("message %q, want %q", got, tc.msg)
			}
		})
	}
}

func TestNetworksAutoAndNoneFrom237(t *testing.T) {
	c := newCloud(t)
	client := *c.compute
	client.Microversion = "2.37"
	opts := c.serverOpts(t, "isolated")
	opts.Networks = "none"
	s, err := servers.Create(t.Context(), &client, opts, nil).Extract()
	if err != nil {
		t.Fatalf("networks none: %v", err)
	}
	c.clock.Advance(buildDelay)
	if got := c.get(t, s.ID); got.Status != "ACTIVE" || len(got.Addresses) != 0 {
		t.Errorf("status %s, addresses %v; want ACTIVE with none", got.Status, got.Addresses)
	}
	opts.Networks = nil
	_, err = servers.Create(t.Context(), &client, opts, nil).Extract()
	e := httpError(t, err, http.StatusBadRequest)
	if !strings.Contains(string(e.Body), "'networks' is a required property") {
		t.Errorf("body %s", e.Body)
	}
}
