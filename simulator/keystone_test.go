package simulator_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/infrabot/infrabot/simulator"
)

func TestLoginGivesACatalogWithEveryService(t *testing.T) {
	c := newCloud(t)
	result, ok := c.provider.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("auth result is %T", c.provider.GetAuthResult())
	}
	catalog, err := result.ExtractServiceCatalog()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"compute":  c.sim.URL() + "/compute/v2.1",
		"image":    c.sim.URL() + "/image",
		"network":  c.sim.URL() + "/network",
		"identity": c.sim.URL() + "/v3",
	}
	for _, entry := range catalog.Entries {
		url, ok := want[entry.Type]
		if !ok {
			continue
		}
		delete(want, entry.Type)
		ifaces := map[string]bool{}
		for _, ep := range entry.Endpoints {
			if ep.URL != url || ep.Region != "RegionOne" {
				t.Errorf("%s endpoint %+v, want URL %s in RegionOne", entry.Type, ep, url)
			}
			ifaces[ep.Interface] = true
		}
		if !ifaces["public"] || !ifaces["internal"] || !ifaces["admin"] {
			t.Errorf("%s interfaces %v, want public, internal and admin", entry.Type, ifaces)
		}
	}
	if len(want) > 0 {
		t.Errorf("catalog lacks %v", want)
	}
	tok, err := result.ExtractToken()
	if err != nil {
		t.Fatal(err)
	}
	if !tok.ExpiresAt.After(c.clock.Now().Add(time.Hour)) {
		t.Errorf("token expires at %v, want hours after %v", tok.ExpiresAt, c.clock.Now())
	}
	project, err := result.ExtractProject()
	if err != nil || project.Name != "admin" || project.Domain.ID != "default" {
		t.Errorf("project %+v, %v; want admin in domain default", project, err)
	}
}

func TestLoginRefusesBadCredentialsWithKeystonesError(t *testing.T) {
	sim := simulator.New(simulator.Options{User: "alice", Password: "s3cret", Project: "ci"})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	good := gophercloud.AuthOptions{IdentityEndpoint: sim.AuthURL(), Username: "alice", Password: "s3cret", TenantName: "ci", DomainID: "default"}
	if _, err := openstack.AuthenticatedClient(t.Context(), good); err != nil {
		t.Fatalf("configured user cannot log in: %v", err)
	}
	cases := map[string]func(o *gophercloud.AuthOptions){
		"wrong password": func(o *gophercloud.AuthOptions) { o.Password = "admin" },
		"unknown user":   func(o *gophercloud.AuthOptions) { o.Username = "admin" },
		"wrong domain":   func(o *gophercloud.AuthOptions) { o.DomainID = "other" },
		"unknown project": func(o *gophercloud.AuthOptions) {
			o.TenantName = "admin"
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			opts := good
			change(&opts)
			_, err := openstack.AuthenticatedClient(t.Context(), opts)
			e := httpError(t, err, http.StatusUnauthorized)
			body := decode(t, e.Body)
			if got := field(t, body, "error", "message"); got != "The request you have made requires authentication." {
				t.Errorf("message %q", got)
			}
			if got := field(t, body, "error", "title"); got != "Unauthorized" {
				t.Errorf("title %q", got)
			}
			if got := field(t, body, "error", "code"); got != 401.0 {
				t.Errorf("code %v", got)
			}
		})
	}
}

func TestServicesRefuseMissingOrUnknownTokens(t *testing.T) {
	c := newCloud(t)
	for name, tok := range map[string]string{"missing": "", "unknown": "gAAAAABnot-a-token"} {
		for _, path := range []string{"/compute/v2.1/servers", "/image/v2/images", "/network/v2.0/networks"} {
			status, hdr, body := do(t, "GET", c.sim.URL()+path, tok, nil)
			if status != http.StatusUnauthorized {
				t.Errorf("%s token, GET %s: status %d", name, path, status)
				continue
			}
			if got := field(t, decode(t, body), "error", "message"); got != "The request you have made requires authentication." {
				t.Errorf("%s token, GET %s: message %q", name, path, got)
			}
			if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Keystone uri=") {
				t.Errorf("%s token, GET %s: WWW-Authenticate %q", name, path, hdr.Get("WWW-Authenticate"))
			}
		}
	}
}

func TestExpiredTokenIsRefusedAndGophercloudLogsInAgain(t *testing.T) {
	sim := simulator.New(simulator.Options{})
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	simulator.SetClock(sim, clock.Now)
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	opts := adminAuth(sim)
	opts.AllowReauth = true
	provider, err := openstack.AuthenticatedClient(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	compute, err := openstack.NewComputeV2(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	old := provider.Token()

	clock.Advance(4 * time.Hour)
	if status, _, _ := do(t, "GET", sim.URL()+"/compute/v2.1/flavors", old, nil); status != http.StatusUnauthorized {
		t.Fatalf("expired token: status %d, want 401", status)
	}
	if _, err := flavors.ListDetail(compute, nil).AllPages(t.Context()); err != nil {
		t.Fatalf("listing after expiry with AllowReauth: %v", err)
	}
	if provider.Token() == old {
		t.Error("gophercloud still holds the expired token")
	}
}

func TestKeystoneValidatesAndRevokesTokens(t *testing.T) {
	c := newCloud(t)
	tok := c.token()
	url := c.sim.AuthURL() + "/auth/tokens"
	status, hdr, body := do(t, "GET", url, tok, nil, "X-Subject-Token", tok)
	if status != http.StatusOK || hdr.Get("X-Subject-Token") != tok {
		t.Fatalf("validate: status %d, subject %q", status, hdr.Get("X-Subject-Token"))
	}
	if got := field(t, decode(t, body), "token", "user", "name"); got != "admin" {
		t.Errorf("user %v", got)
	}
	if status, _, _ := do(t, "DELETE", url, tok, nil, "X-Subject-Token", tok); status != http.StatusNoContent {
		t.Fatalf("revoke: status %d", status)
	}
	if status, _, _ := do(t, "GET", c.sim.URL()+"/compute/v2.1/servers", tok, nil); status != http.StatusUnauthorized {
		t.Errorf("revoked token still works: %d", status)
	}
}

func TestKeystoneVersionDocuments(t *testing.T) {
	c := newCloud(t)
	status, _, body := do(t, "GET", c.sim.AuthURL(), "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v3: %d", status)
	}
	if got := field(t, decode(t, body), "version", "id"); got != "v3.14" {
		t.Errorf("version %v", got)
	}
	// An unversioned auth URL makes gophercloud read the root document.
	opts := adminAuth(c.sim)
	opts.IdentityEndpoint = c.sim.URL() + "/"
	if _, err := openstack.AuthenticatedClient(t.Context(), opts); err != nil {
		t.Errorf("login through version discovery: %v", err)
	}
}

func TestMalformedAuthBodyIsA400(t *testing.T) {
	c := newCloud(t)
	status, _, body := do(t, "POST", c.sim.AuthURL()+"/auth/tokens", "", "{not json")
	if status != http.StatusBadRequest {
		t.Fatalf("status %d", status)
	}
	if got := field(t, decode(t, body), "error", "title"); got != "Bad Request" {
		t.Errorf("title %v", got)
	}
}

func TestUnscopedTokenIsForKeystoneOnly(t *testing.T) {
	c := newCloud(t)
	body := `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "admin", "domain": {"name": "Default"}}}}}}`
	status, hdr, out := do(t, "POST", c.sim.AuthURL()+"/auth/tokens", "", body)
	if status != http.StatusCreated {
		t.Fatalf("unscoped login: %d %s", status, out)
	}
	tok := decode(t, out)["token"].(map[string]any)
	if _, ok := tok["catalog"]; ok {
		t.Errorf("unscoped token has a catalog: %v", tok)
	}
	unscoped := hdr.Get("X-Subject-Token")
	if status, _, _ := do(t, "GET", c.sim.URL()+"/compute/v2.1/flavors", unscoped, nil); status != http.StatusUnauthorized {
		t.Errorf("nova took an unscoped token: %d", status)
	}
	// Rescoping it to the project with the token method works.
	rescope := `{"auth": {"identity": {"methods": ["token"], "token": {"id": "` + unscoped + `"}}, "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}`
	if status, _, out := do(t, "POST", c.sim.AuthURL()+"/auth/tokens", "", rescope); status != http.StatusCreated {
		t.Errorf("rescope: %d %s", status, out)
	}
}
