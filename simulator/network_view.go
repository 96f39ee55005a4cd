package simulator

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// neutronViews renders every resource of one kind as Neutron shows it.
// The caller holds s.mu.
type neutronViews func(now time.Time) []map[string]any

// neutronListParams are query parameters that are not filters.
var neutronListParams = map[string]bool{
	"fields": true, "limit": true, "marker": true, "sort_key": true, "sort_dir": true, "page_reverse": true,
}

// neutronList serves a Neutron collection with its filters: any attribute
// equal to the value (several values: any of them), fixed_ips as
// "ip_address=…" or "subnet_id=…", and "fields" to pick attributes. An
// unknown attribute is a 400, as with Neutron's filter validation.
func (s *Simulator) neutronList(collection string, views neutronViews) func(http.ResponseWriter, *request) {
	return func(w http.ResponseWriter, r *request) {
		q := r.URL.Query()
		now := s.lockState()
		items := views(now)
		s.mu.Unlock()
		var kept []map[string]any
		for _, it := range items {
			ok, apiErr := neutronMatches(it, q)
			if apiErr != nil {
				writeError(w, networkSvc, apiErr)
				return
			}
			if ok {
				kept = append(kept, it)
			}
		}
		page, next, apiErr := paginate(kept, func(m map[string]any) string { return m["id"].(string) }, q)
		if apiErr != nil {
			writeError(w, networkSvc, apiErr)
			return
		}
		out := make([]any, 0, len(page))
		for _, it := range page {
			out = append(out, selectFields(it, q["fields"]))
		}
		body := map[string]any{collection: out}
		if next != "" {
			body[collection+"_links"] = []any{link(nextLink(r, next), "next")}
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// neutronShow serves one resource by id; kind names it in the 404 as
// Neutron does ("Network … could not be found.").
func (s *Simulator) neutronShow(singular, kind string, views neutronViews) func(http.ResponseWriter, *request) {
	return func(w http.ResponseWriter, r *request) {
		now := s.lockState()
		items := views(now)
		s.mu.Unlock()
		for _, it := range items {
			if it["id"] == r.param("id") {
				writeJSON(w, http.StatusOK, map[string]any{singular: selectFields(it, r.URL.Query()["fields"])})
				return
			}
		}
		typ := strings.ReplaceAll(kind, " ", "") + "NotFound"
		typ = strings.ToUpper(typ[:1]) + typ[1:]
		msg := fmt.Sprintf("%s %s could not be found.", kind, r.param("id"))
		if singular == "security_group" {
			typ, msg = "SecurityGroupNotFound", fmt.Sprintf("Security group %s does not exist", r.param("id"))
		}
		writeError(w, networkSvc, &apiError{status: http.StatusNotFound, msg: msg, neutronType: typ})
	}
}

func neutronMatches(item map[string]any, q url.Values) (bool, *apiError) {
	for key, values := range q {
		if neutronListParams[key] {
			continue
		}
		v, known := item[key]
		if !known {
			return false, &apiError{status: http.StatusBadRequest, msg: key + " is invalid attribute for filtering", neutronType: "HTTPBadRequest"}
		}
		any := false
		for _, want := range values {
			if neutronValueMatches(key, v, want) {
				any = true
				break
			}
		}
		if !any {
			return false, nil
		}
	}
	return true, nil
}

func neutronValueMatches(key string, v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want
	case bool:
		return strings.EqualFold(want, strconv.FormatBool(x))
	case int:
		return want == strconv.Itoa(x)
	case nil:
		return want == "" || want == "None"
	case []string:
		return contains(x, want)
	case []any:
		if key == "fixed_ips" {
			field, val, _ := strings.Cut(want, "=")
			for _, e := range x {
				if m, ok := e.(map[string]any); ok && m[field] == val {
					return true
				}
			}
		}
	}
	return false
}

func selectFields(item map[string]any, fields []string) map[string]any {
	if len(fields) == 0 {
		return item
	}
	out := map[string]any{}
	for _, f := range fields {
		if v, ok := item[f]; ok {
			out[f] = v
		}
	}
	return out
}

// standardAttrs are the attributes every Neutron resource carries.
func (s *Simulator) standardAttrs(m map[string]any, created time.Time, revision int) map[string]any {
	m["project_id"] = s.projectID
	m["tenant_id"] = s.projectID
	m["created_at"] = isoTime(created)
	m["updated_at"] = isoTime(created)
	m["revision_number"] = revision
	if _, ok := m["description"]; !ok {
		m["description"] = ""
	}
	return m
}

func (s *Simulator) networkViews(time.Time) []map[string]any {
	var out []map[string]any
	for _, n := range s.network.networks {
		out = append(out, s.standardAttrs(map[string]any{
			"id": n.id, "name": n.name, "status": "ACTIVE", "admin_state_up": true,
			"shared": false, "router:external": n.external, "is_default": n.external,
			"subnets": append([]string{}, n.subnetIDs...), "mtu": n.mtu,
			"port_security_enabled": true, "tags": []string{}, "description": n.description,
			"availability_zone_hints": []string{}, "availability_zones": []string{"nova"},
			"ipv4_address_scope": nil, "ipv6_address_scope": nil, "l2_adjacency": true,
			"qos_policy_id": nil, "dns_domain": "",
			"provider:network_type": n.netType, "provider:physical_network": n.physNet,
			"provider:segmentation_id": n.segment,
		}, n.created, 2))
	}
	return out
}

func (s *Simulator) subnetViews(time.Time) []map[string]any {
	var out []map[string]any
	for _, sn := range s.network.subnets {
		out = append(out, s.standardAttrs(map[string]any{
			"id": sn.id, "name": sn.name, "network_id": sn.networkID, "ip_version": 4,
			"cidr": sn.prefix.String(), "gateway_ip": sn.gateway.String(), "enable_dhcp": true,
			"allocation_pools": []any{map[string]any{"start": sn.poolStart.String(), "end": sn.poolEnd.String()}},
			"dns_nameservers":  []string{}, "host_routes": []any{}, "ipv6_address_mode": nil,
			"ipv6_ra_mode": nil, "segment_id": nil, "service_types": []string{},
			"subnetpool_id": nil, "tags": []string{}, "dns_publish_fixed_ip": false,
		}, sn.created, 0))
	}
	return out
}

func (s *Simulator) secGroupViews(time.Time) []map[string]any {
	var out []map[string]any
	for _, g := range s.network.secGroups {
		rules := make([]any, 0, len(g.rules))
		for _, r := range g.rules {
			var remote any
			if r.remoteGroup {
				remote = g.id
			}
			rules = append(rules, s.standardAttrs(map[string]any{
				"id": r.id, "security_group_id": g.id, "direction": r.direction,
				"ethertype": r.ethertype, "protocol": nil, "port_range_min": nil,
				"port_range_max": nil, "remote_ip_prefix": nil, "remote_group_id": remote,
				"remote_address_group_id": nil,
			}, g.created, 0))
		}
		out = append(out, s.standardAttrs(map[string]any{
			"id": g.id, "name": g.name, "description": g.description,
			"security_group_rules": rules, "stateful": true, "shared": false, "tags": []string{},
		}, g.created, 1))
	}
	return out
}

// portViews derives the ports from the servers: a server has its ports
// from the networking step of its build until it is gone, except when the
// build failed (Nova deallocates the network then). A port is ACTIVE once
// its server is.
func (s *Simulator) portViews(now time.Time) []map[string]any {
	var out []map[string]any
	servers := make([]*server, 0, len(s.servers))
	for _, sv := range s.servers {
		servers = append(servers, sv)
	}
	sort.Slice(servers, func(i, j int) bool {
		if !servers[i].created.Equal(servers[j].created) {
			return servers[i].created.Before(servers[j].created)
		}
		return servers[i].id < servers[j].id
	})
	for _, sv := range servers {
		p := s.phaseOf(sv, now)
		if !p.scheduled || p.fault != nil {
			continue
		}
		var groups []string
		for _, name := range sv.secGroups {
			if g := s.findSecGroup(name); g != nil {
				groups = append(groups, g.id)
			}
		}
		status := "DOWN"
		if p.status == "ACTIVE" {
			status = "ACTIVE"
		}
		created := sv.created.Add(s.opts.BuildDelay / 3)
		for _, c := range sv.nics {
			out = append(out, s.standardAttrs(map[string]any{
				"id": c.portID, "name": "", "network_id": c.networkID, "mac_address": c.mac,
				"admin_state_up": true, "status": status, "device_id": sv.id,
				"device_owner":    "compute:nova",
				"fixed_ips":       []any{map[string]any{"subnet_id": c.subnetID, "ip_address": c.ip}},
				"security_groups": groups, "allowed_address_pairs": []any{},
				"extra_dhcp_opts": []any{}, "binding:vnic_type": "normal",
				"binding:host_id": computeHost, "binding:vif_type": "ovs",
				"binding:vif_details": map[string]any{"port_filter": true, "connectivity": "l2"},
				"binding:profile":     map[string]any{}, "port_security_enabled": true,
				"tags": []string{}, "dns_name": "", "ip_allocation": "immediate",
				"propagate_uplink_status": false, "qos_network_policy_id": nil,
				"qos_policy_id": nil, "resource_request": nil,
			}, created, 4))
		}
	}
	return out
}
