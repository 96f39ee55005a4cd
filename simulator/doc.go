// Package simulator is an in-memory OpenStack cloud for demos and fast
// tests. It serves, on one HTTP listener, the part of Keystone v3, Nova
// v2.1, Glance v2 and Neutron v2.0 that infrabot uses, with the wire format
// of a real cloud (modelled on Zed: Keystone 22, Nova 26, Glance 25,
// Neutron 21), so gophercloud talks to it unmodified:
//
//	sim := simulator.New(simulator.Options{BuildDelay: 20 * time.Millisecond})
//	if err := sim.Start("127.0.0.1:0"); err != nil { … }
//	defer sim.Close()
//	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
//		IdentityEndpoint: sim.AuthURL(), Username: "admin", Password: "admin",
//		TenantName: "admin", DomainName: "Default",
//	})
//
// # What it serves
//
// The service catalog (region "RegionOne"; public, internal and admin
// interfaces all alike) points at the address the caller used:
//
//	identity  /v3            GET / (300, versions), GET /v3, POST/GET/HEAD/DELETE /v3/auth/tokens
//	compute   /compute/v2.1  GET /compute/ and /compute/v2.1/ (versions, no token needed),
//	                         flavors, flavors/detail, flavors/{id},
//	                         servers (GET, POST), servers/detail, servers/{id} (GET, DELETE),
//	                         servers/{id}/metadata (GET, PUT, POST), servers/{id}/metadata/{key} (GET, PUT, DELETE),
//	                         os-keypairs (GET, POST), os-keypairs/{name} (GET, DELETE),
//	                         os-quota-sets/{project_id} (GET, PUT), …/defaults, …/detail, limits
//	image     /image         GET /image/ (300, versions), /image/v2/images, /image/v2/images/{id}
//	network   /network       GET /network/ (versions), /network/v2.0/networks[/{id}], subnets[/{id}],
//	                         ports[/{id}] (derived from servers; filter with ?device_id=),
//	                         security-groups[/{id}]
//
// Keystone takes password authentication (user by name and domain name or
// id, or by id) and token authentication, scoped to the project by name and
// domain, or by id. Tokens live three hours. Every other call needs a valid
// project-scoped X-Auth-Token; a missing, unknown or expired one gets 401
// with Keystone's error body, as keystonemiddleware answers.
//
// Servers are created in BUILD (task_state scheduling, then networking,
// then spawning, over the build delay) and then turn ACTIVE. DELETE answers
// 204; the server stays listed, in its last state with task_state
// "deleting", for the delete delay, then is gone (404 itemNotFound). The
// lifecycle is worked out from the clock on every request; nothing runs in
// the background.
//
// Nova answers at the microversion asked for with OpenStack-API-Version
// ("compute 2.47") or X-OpenStack-Nova-API-Version, 2.1 when none is given
// (gophercloud's default), up to 2.93. Fields that depend on it: the
// embedded flavor (2.47), locked (2.9), host_status (2.16), description
// (2.19), tags (2.26), server_groups (2.71), locked_reason (2.73), the
// OS-EXT-SRV-ATTR extras (2.3); networks "auto"/"none" and a required
// networks member from 2.37; flavor swap as an integer from 2.75.
//
// # Seed
//
//	user "admin" / "admin", project "admin", domain "Default" (id "default"); roles admin, member, reader
//	flavors  m1.tiny (id 1, 512 MiB, 1 vCPU, 1 GiB), m1.small (2: 2048, 1, 20),
//	         m1.medium (3: 4096, 2, 40), m1.large (4: 8192, 4, 80),
//	         x1.impossible (random UUID id; 4 TiB RAM): no host fits it, so a server
//	         with it goes to ERROR with the fault "No valid host was found. " (code 500,
//	         trailing space included), as Nova's scheduler leaves it
//	images   centos-stream-9, cirros-0.6 (qcow2, bare, public, active)
//	networks private (10.0.0.0/24, addresses from 10.0.0.2), public (172.24.4.0/24, router:external)
//	security group default; key pair "infrabot" (a throwaway ed25519 public key)
//	quota    instances 10 (Nova's default)
//
// User, password, project and the delays come from Options.
//
// # Errors, as the real services shape them
//
//	Keystone  {"error": {"code": 401, "message": "…", "title": "Unauthorized"}}
//	Nova      {"<name>": {"code": N, "message": "…"}}, the name from Nova's table:
//	          badRequest 400, forbidden 403, itemNotFound 404, badMethod 405,
//	          conflictingRequest 409, overLimit 413/429, serviceUnavailable 503,
//	          computeFault for the rest
//	Glance    {"code": "404 Not Found", "message": "…<br /><br />\n\n\n", "title": "Not Found"}
//	Neutron   {"NeutronError": {"type": "NetworkNotFound", "message": "…", "detail": ""}}
//
// Nova's create checks give Nova's messages: "Flavor X could not be found.",
// "Can not find requested image", "Network X could not be found.",
// "Security group X not found.", "Invalid key_name provided.", schema
// errors as "Invalid input for field/attribute …", malformed JSON as
// "Malformed request body" (all 400); several networks and none chosen,
// "More than one possible network found. …" (409); and over quota 403
// forbidden "Quota exceeded for instances: Requested 1, but already used
// 10 of 10 instances". The 403 is what Nova's v2.1 API has always answered
// (its QuotaError is mapped to HTTPForbidden); the 413 overLimit belongs to
// the old v2.0 API and is not emulated.
//
// # Fault injection
//
// In Go:
//
//	sim.Inject(simulator.Fault{Method: "POST", Path: "/compute/v2.1/servers", Status: 503, Times: 2})
//	sim.Inject(simulator.Fault{Path: "/image/", Delay: 5 * time.Second}) // slow, then normal
//	sim.ClearFaults()                      // faults, stick and fail-build rules
//	sim.StickInBuild("stuck-")             // such servers never leave BUILD
//	sim.FailBuild("bad-", "disk on fire")  // such servers end in ERROR with that fault message
//	sim.SetInstanceQuota(3)                // negative: unlimited
//
// A Fault matches on method ("" for any) and URL path prefix; the first
// matching fault applies, Times times (0: until cleared). Its Delay is real
// time and ends early when the caller gives up (request context done). Its
// Status is answered with that service's error body and the webob default
// explanation ("The server is currently unavailable. Please try again at a
// later time." for 503); 401 gets Keystone's body. StickInBuild and
// FailBuild rules apply to servers created after them; FailBuild wins over
// StickInBuild, and x1.impossible over both.
//
// Over HTTP, for tests in another process (no token needed, never faulted;
// errors are {"error": "…"}):
//
//	GET    /_sim/faults       the faults, rules and instance quota in force
//	POST   /_sim/faults       {"method": "POST", "path": "/compute/v2.1/servers", "status": 503,
//	                           "delay": "250ms", "times": 2}   ("delay_ms": 250 also works)
//	DELETE /_sim/faults       ClearFaults
//	POST   /_sim/stick        {"prefix": "stuck-"}
//	POST   /_sim/fail-build   {"prefix": "bad-", "message": "disk on fire"}
//	POST   /_sim/quota        {"instances": 3}
//
// # Known differences from a real cloud
//
//   - One user, one project, one region, one compute host. The user is
//     admin: admin-only fields (OS-EXT-SRV-ATTR:*, fault details) are shown.
//   - Only the instances quota is enforced; cores and ram are reported but
//     not checked. A real Nova checks them first, so on a real cloud a
//     flavor with 4 TiB of RAM is refused with 403 for the ram quota unless
//     that quota is raised.
//   - A flavor either fits the one host or not; capacity is not used up.
//   - No volumes, floating IPs, server actions, or ports made in advance
//     (networks [{"port": …}] is refused as an unknown port).
//     block_device_mapping is accepted and ignored.
//   - Leaving networks out (or "auto") with both seeded networks visible is
//     NetworkAmbiguous (409), as on a real cloud where the project sees
//     more than one network; there is no auto-allocated topology.
//   - The name filter is a case-insensitive regular expression search (as
//     with Nova on MariaDB) in Go's syntax; a pattern Go cannot compile is
//     a plain substring. Servers list newest first; sort_key/sort_dir are
//     ignored. Filters Nova does not know are ignored; Neutron filters on an
//     unknown attribute are 400s.
//   - Ports and addresses are strings in JSON; nothing is routed. A server's
//     addresses appear from the spawning step of its build; its ports from
//     the networking step. Addresses of an ERROR server stay reserved until
//     it is deleted.
//   - Validation messages quote values as Python would, but key order in
//     quoted objects is sorted.
//   - State lives in memory for the life of the process.
package simulator
