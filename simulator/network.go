package simulator

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// netState is Neutron's state. Networks, subnets and security groups never
// change after seeding; ports are derived from servers.
type netState struct {
	networks  []*network
	subnets   []*subnet
	secGroups []*secGroup
}

type network struct {
	id, name    string
	external    bool
	mtu         int
	netType     string // provider:network_type
	physNet     any    // provider:physical_network, nil for tunnels
	segment     any    // provider:segmentation_id, nil for flat
	subnetIDs   []string
	created     time.Time
	description string
}

type subnet struct {
	id, name, networkID string
	prefix              netip.Prefix
	gateway             netip.Addr
	poolStart, poolEnd  netip.Addr
	used                map[netip.Addr]bool
	created             time.Time
}

type secGroup struct {
	id, name, description string
	rules                 []secRule
	created               time.Time
}

type secRule struct {
	id, direction, ethertype string
	remoteGroup              bool // ingress from members of the same group
}

func (s *Simulator) networkRoutes(add addRoute) {
	p := networkPrefix
	v := p + "/v2.0"
	add("GET", p, false, s.neutronVersions)
	add("GET", v, true, s.neutronResources)
	add("GET", v+"/networks", true, s.neutronList("networks", s.networkViews))
	add("GET", v+"/networks/{id}", true, s.neutronShow("network", "Network", s.networkViews))
	add("GET", v+"/subnets", true, s.neutronList("subnets", s.subnetViews))
	add("GET", v+"/subnets/{id}", true, s.neutronShow("subnet", "Subnet", s.subnetViews))
	add("GET", v+"/ports", true, s.neutronList("ports", s.portViews))
	add("GET", v+"/ports/{id}", true, s.neutronShow("port", "Port", s.portViews))
	add("GET", v+"/security-groups", true, s.neutronList("security_groups", s.secGroupViews))
	add("GET", v+"/security-groups/{id}", true, s.neutronShow("security_group", "Security group", s.secGroupViews))
}

func (s *Simulator) neutronVersions(w http.ResponseWriter, r *request) {
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id": "v2.0", "status": "CURRENT",
		"links": []any{link(r.baseURL()+networkPrefix+"/v2.0/", "self")},
	}}})
}

func (s *Simulator) neutronResources(w http.ResponseWriter, r *request) {
	var out []any
	for _, c := range []struct{ name, collection string }{
		{"network", "networks"}, {"subnet", "subnets"}, {"port", "ports"}, {"security_group", "security-groups"},
	} {
		out = append(out, map[string]any{
			"name": c.name, "collection": c.collection,
			"links": []any{link(r.baseURL()+networkPrefix+"/v2.0/"+c.collection, "self")},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"resources": out})
}

func (s *Simulator) findNetwork(id string) *network {
	for _, n := range s.network.networks {
		if n.id == id {
			return n
		}
	}
	return nil
}

// findSecGroup finds a security group by name or id, as Nova resolves the
// names given at boot.
func (s *Simulator) findSecGroup(nameOrID string) *secGroup {
	for _, g := range s.network.secGroups {
		if g.id == nameOrID || g.name == nameOrID {
			return g
		}
	}
	return nil
}

func (s *Simulator) subnetOf(n *network) *subnet {
	for _, sn := range s.network.subnets {
		if sn.networkID == n.id {
			return sn
		}
	}
	return nil
}

// netChoice is one network a new server is to be attached to.
type netChoice struct {
	net     *network
	fixedIP string
}

// resolveNetworks turns the networks of a create request into networks,
// with Nova's errors: an unknown network is a 400, and asking for none in
// particular when the project has several is NetworkAmbiguous, a 409.
func (s *Simulator) resolveNetworks(req *createRequest) ([]netChoice, *apiError) {
	if req.networksNone {
		return nil, nil
	}
	if req.networks == nil {
		if len(s.network.networks) > 1 {
			return nil, &apiError{status: http.StatusConflict, msg: "More than one possible network found. Specify network ID(s) to select which one(s) to connect to."}
		}
		var out []netChoice
		for _, n := range s.network.networks {
			out = append(out, netChoice{net: n})
		}
		return out, nil
	}
	var out []netChoice
	var missing []string
	for _, nr := range req.networks {
		if nr.port != "" {
			return nil, badRequest(fmt.Sprintf("Port id %s could not be found.", nr.port))
		}
		n := s.findNetwork(nr.uuid)
		if n == nil {
			if !contains(missing, nr.uuid) {
				missing = append(missing, nr.uuid)
			}
			continue
		}
		if nr.fixedIP != "" {
			if owner := s.fixedIPOwner(n, nr.fixedIP); owner != "" {
				return nil, badRequest(fmt.Sprintf("Fixed IP address %s is already in use on instance %s.", nr.fixedIP, owner))
			}
		}
		out = append(out, netChoice{net: n, fixedIP: nr.fixedIP})
	}
	if len(missing) > 0 {
		return nil, badRequest(fmt.Sprintf("Network %s could not be found.", strings.Join(missing, ", ")))
	}
	return out, nil
}

func (s *Simulator) fixedIPOwner(n *network, ip string) string {
	for _, sv := range s.servers {
		for _, c := range sv.nics {
			if c.networkID == n.id && c.ip == ip {
				return sv.id
			}
		}
	}
	return ""
}

// attach gives sv a port with an address on each chosen network. It
// returns the reason when an address cannot be had, for the build fault.
func (s *Simulator) attach(sv *server, choices []netChoice) string {
	for _, c := range choices {
		sn := s.subnetOf(c.net)
		var addr netip.Addr
		if c.fixedIP != "" {
			a, err := netip.ParseAddr(c.fixedIP)
			if err != nil || !sn.prefix.Contains(a) || sn.used[a] || a == sn.gateway {
				s.releaseNICs(sv)
				return fmt.Sprintf("Invalid input for operation: IP address %s is not a valid IP for the specified subnet.", c.fixedIP)
			}
			addr = a
		} else {
			for a := sn.poolStart; a.Compare(sn.poolEnd) <= 0; a = a.Next() {
				if !sn.used[a] {
					addr = a
					break
				}
			}
			if !addr.IsValid() {
				s.releaseNICs(sv)
				return "Failed to allocate the network(s), not rescheduling."
			}
		}
		sn.used[addr] = true
		sv.nics = append(sv.nics, &nic{
			portID: newUUID(), networkID: c.net.id, subnetID: sn.id,
			ip: addr.String(), mac: randomMAC(),
		})
	}
	return ""
}

// releaseNICs frees the addresses of sv's ports.
func (s *Simulator) releaseNICs(sv *server) {
	for _, c := range sv.nics {
		for _, sn := range s.network.subnets {
			if sn.id == c.subnetID {
				delete(sn.used, netip.MustParseAddr(c.ip))
			}
		}
	}
	sv.nics = nil
}

// randomMAC returns an address in Neutron's default fa:16:3e prefix.
func randomMAC() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}
