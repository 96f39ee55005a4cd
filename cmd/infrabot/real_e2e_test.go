//go:build openstack

// The built infrabot against a real OpenStack: the cloud that
// scripts/openstack/setup.sh brings up (make test-openstack runs this).

package main_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
)

// realBot writes a config for one environment, named env, with count
// servers on the real cloud given by cloudYAML (the clouds: entry).
func realBot(t *testing.T, dir, env string, count int, cloudYAML string) *bot {
	return realBotEnvs(t, dir, []string{env}, count, cloudYAML)
}

// realBotEnvs is realBot for several environments alike.
func realBotEnvs(t *testing.T, dir string, envs []string, count int, cloudYAML string) *bot {
	t.Helper()
	var decl strings.Builder
	for _, env := range envs {
		fmt.Fprintf(&decl, `  %s:
    cloud: real
    timeout: 3m
    servers:
      - {name: web, count: %d, flavor: m1.tiny, image: cirros-0.6, networks: [private]}
`, env, count)
	}
	cfg := fmt.Sprintf(`storage:
  path: %s/infrabot.db
people:
  alice: {roles: [admin]}
  bob:   {roles: [operator]}
roles:
  operator:
    allow: [help, status, plan, runs, run, provision, teardown, approve, deny, cancel]
  admin:
    inherit: [operator]
    allow: ["*"]
clouds:
  real:
%s
environments:
%s`, dir, cloudYAML, decl.String())
	path := filepath.Join(dir, "infrabot.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &bot{t: t, dir: dir, config: path, env: os.Environ()}
}

func realEnvName(t *testing.T) string {
	b := make([]byte, 3)
	rand.Read(b)
	return "e2e-" + hex.EncodeToString(b)
}

func lane(t *testing.T) (cloudsYAML, cloud string) {
	t.Helper()
	cloudsYAML, cloud = os.Getenv("INFRABOT_OS_CLOUDS_YAML"), os.Getenv("INFRABOT_OS_CLOUD")
	if cloudsYAML == "" || cloud == "" || os.Getenv("OS_AUTH_URL") == "" || os.Getenv("OS_PASSWORD") == "" {
		t.Fatal("no real cloud: run scripts/openstack/test.sh (or source the test.env setup.sh writes)")
	}
	return cloudsYAML, cloud
}

// noSecret fails the test if the cloud's password is in out.
func noSecret(t *testing.T, out string) {
	t.Helper()
	if strings.Contains(out, os.Getenv("OS_PASSWORD")) {
		t.Fatal("the cloud password was printed")
	}
}

func TestRealCloudStoryThroughCloudsYAML(t *testing.T) {
	cloudsYAML, cloud := lane(t)
	env := realEnvName(t)
	dir := t.TempDir()
	b := realBot(t, dir, env, 2, fmt.Sprintf("    clouds_yaml: %s\n    cloud: %s", cloudsYAML, cloud))
	compute := realCompute(t, cloudsYAML, cloud)
	t.Cleanup(func() { sweep(t, compute, env) })

	out := b.shell("alice", "provision "+env)
	noSecret(t, out)
	expect(t, out, "create 2, keep 0, delete 0", "run 1 `provision "+env+"` by alice: succeeded")
	expect(t, b.shell("bob", "status "+env), env+": 2/2 servers (2 ACTIVE)")

	out = b.shell("bob", "provision "+env)
	expect(t, out, "nothing to do: "+env+" is as declared (2 servers)")
	refuse(t, out, "+ create")

	// Made by hand in the same project, with one of our names.
	outsider := createRealOutsider(t, compute, cloudsYAML, cloud, env+"-web-1")

	// The count goes down: the plan deletes, so it waits for a second person.
	b = realBot(t, dir, env, 1, fmt.Sprintf("    clouds_yaml: %s\n    cloud: %s", cloudsYAML, cloud))
	out = b.shell("bob", "plan "+env, "provision "+env, "approve 3")
	expect(t, out, "- delete "+env+"-web-2", "request 3 awaits approval", "cannot approve your own request 3")
	out = b.shell("alice", "approve 3")
	expect(t, out, "approved request 3", "✓ delete "+env+"-web-2 — gone", "run 3 `provision "+env+"` by bob: succeeded")
	expect(t, b.shell("bob", "status "+env), env+": 1/1 servers (1 ACTIVE)")

	out = b.shell("bob", "teardown "+env)
	expect(t, out, "request 4 awaits approval")
	out = b.shell("alice", "approve 4")
	expect(t, out, "run 4 `teardown "+env+"` by bob: succeeded")
	expect(t, b.shell("bob", "status "+env), env+": 0/1 servers")
	if _, err := servers.Get(context.Background(), compute, outsider).Extract(); err != nil {
		t.Errorf("the server made outside infrabot did not survive the teardown: %v", err)
	}
}

func TestRealCloudInlineAuth(t *testing.T) {
	lane(t)
	env := realEnvName(t)
	inline := fmt.Sprintf("    auth_url: %s\n    username: %s\n    password: ${env:OS_PASSWORD}\n    project: %s\n    user_domain: %s\n    project_domain: %s",
		os.Getenv("OS_AUTH_URL"), os.Getenv("OS_USERNAME"), os.Getenv("OS_PROJECT_NAME"),
		os.Getenv("OS_USER_DOMAIN_NAME"), os.Getenv("OS_PROJECT_DOMAIN_NAME"))
	b := realBot(t, t.TempDir(), env, 1, inline)
	if out, code := b.infrabot("config", "check", b.config); code != 0 {
		t.Fatalf("config check: %s", out)
	}
	out := b.shell("alice", "provision "+env)
	noSecret(t, out)
	expect(t, out, "run 1 `provision "+env+"` by alice: succeeded")
	expect(t, b.shell("bob", "status "+env), env+": 1/1 servers (1 ACTIVE)")
	out = b.shell("bob", "teardown "+env)
	expect(t, out, "request 2 awaits approval")
	out = b.shell("alice", "approve 2")
	expect(t, out, "run 2 `teardown "+env+"` by bob: succeeded")
	expect(t, b.shell("bob", "status "+env), env+": 0/1 servers")
}

func realProvider(t *testing.T, cloudsYAML, cloud string) *gophercloud.ProviderClient {
	t.Helper()
	ao, _, _, err := clouds.Parse(clouds.WithLocations(cloudsYAML), clouds.WithCloudName(cloud))
	if err != nil {
		t.Fatal(err)
	}
	p, err := gopenstack.AuthenticatedClient(context.Background(), ao)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func realCompute(t *testing.T, cloudsYAML, cloud string) *gophercloud.ServiceClient {
	t.Helper()
	c, err := gopenstack.NewComputeV2(realProvider(t, cloudsYAML, cloud), gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createRealOutsider creates a server without infrabot's marks and deletes
// it when the test ends.
func createRealOutsider(t *testing.T, compute *gophercloud.ServiceClient, cloudsYAML, cloud, name string) string {
	t.Helper()
	ctx := context.Background()
	p := realProvider(t, cloudsYAML, cloud)
	var flavorID, imageID, netID string
	if pages, err := flavors.ListDetail(compute, nil).AllPages(ctx); err == nil {
		all, _ := flavors.ExtractFlavors(pages)
		for _, f := range all {
			if f.Name == "m1.tiny" {
				flavorID = f.ID
			}
		}
	}
	ic, _ := gopenstack.NewImageV2(p, gophercloud.EndpointOpts{})
	if pages, err := images.List(ic, images.ListOpts{Name: "cirros-0.6"}).AllPages(ctx); err == nil {
		all, _ := images.ExtractImages(pages)
		if len(all) > 0 {
			imageID = all[0].ID
		}
	}
	nc, _ := gopenstack.NewNetworkV2(p, gophercloud.EndpointOpts{})
	if pages, err := networks.List(nc, networks.ListOpts{Name: "private"}).AllPages(ctx); err == nil {
		all, _ := networks.ExtractNetworks(pages)
		if len(all) > 0 {
			netID = all[0].ID
		}
	}
	s, err := servers.Create(ctx, compute, servers.CreateOpts{
		Name: name, FlavorRef: flavorID, ImageRef: imageID, Networks: []servers.Network{{UUID: netID}},
	}, nil).Extract()
	if err != nil {
		t.Fatalf("creating the outsider (flavor %q image %q network %q): %v", flavorID, imageID, netID, err)
	}
	t.Cleanup(func() { servers.Delete(context.Background(), compute, s.ID) })
	return s.ID
}

// sweep deletes whatever a failed test left in env.
func sweep(t *testing.T, compute *gophercloud.ServiceClient, env string) {
	pages, err := servers.List(compute, servers.ListOpts{Name: "^" + env + "-"}).AllPages(context.Background())
	if err != nil {
		return
	}
	all, _ := servers.ExtractServers(pages)
	for _, s := range all {
		servers.Delete(context.Background(), compute, s.ID)
	}
}

// TestRealCloudTenEnvironmentsInParallel provisions ten environments at
// once through one infrabot, then tears them all down, and logs how long
// each half took. Nothing may be left in ERROR or leaked.
func TestRealCloudTenEnvironmentsInParallel(t *testing.T) {
	cloudsYAML, cloud := lane(t)
	base := realEnvName(t)
	var envs, provision, teardown, approve []string
	for i := range 10 {
		env := fmt.Sprintf("%s-%d", base, i)
		envs = append(envs, env)
		provision = append(provision, "provision "+env)
		teardown = append(teardown, "teardown "+env)
		approve = append(approve, fmt.Sprintf("approve %d", 11+i))
	}
	compute := realCompute(t, cloudsYAML, cloud)
	t.Cleanup(func() { sweep(t, compute, base) })
	b := realBotEnvs(t, t.TempDir(), envs, 1, fmt.Sprintf("    clouds_yaml: %s\n    cloud: %s", cloudsYAML, cloud))

	start := time.Now()
	out := b.shell("alice", provision...)
	took := time.Since(start)
	for i, env := range envs {
		expect(t, out, fmt.Sprintf("run %d `provision %s` by alice: succeeded", i+1, env))
	}
	status := b.shell("alice", "status")
	if got := strings.Count(status, "1/1 servers (1 ACTIVE)"); got != 10 {
		t.Errorf("%d of 10 environments are as declared:\n%s", got, status)
	}
	b.shell("bob", teardown...)
	start = time.Now()
	out = b.shell("alice", approve...)
	gone := time.Since(start)
	for i, env := range envs {
		expect(t, out, fmt.Sprintf("run %d `teardown %s` by bob: succeeded", 11+i, env))
	}
	pages, err := servers.List(compute, servers.ListOpts{Name: "^" + base + "-"}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := servers.ExtractServers(pages); len(left) != 0 {
		t.Errorf("%d servers left after the teardowns", len(left))
	}
	t.Logf("10 environments provisioned in parallel in %s (process start to all ACTIVE), torn down in %s", took.Round(100*time.Millisecond), gone.Round(100*time.Millisecond))
}
