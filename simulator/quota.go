package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// DefaultInstanceQuota is Nova's default instances quota.
const DefaultInstanceQuota = 10

// novaQuotaDefaults are Nova's default quotas. Only instances is enforced
// by the simulator; the others are reported as a real Nova reports them.
var novaQuotaDefaults = map[string]int{
	"cores": 20, "fixed_ips": -1, "floating_ips": 10, "injected_file_content_bytes": 10240,
	"injected_file_path_bytes": 255, "injected_files": 5, "instances": DefaultInstanceQuota,
	"key_pairs": 100, "metadata_items": maxMetadataItems, "ram": 51200, "security_group_rules": 20,
	"security_groups": 10, "server_groups": 10, "server_group_members": 10,
}

// quotaResources lists the quotas shown at microversion v: 2.36 dropped the
// nova-network ones, 2.57 the injected-file ones.
func quotaResources(v microversion) []string {
	var out []string
	for _, k := range sortedKeys(novaQuotaDefaults) {
		switch k {
		case "fixed_ips", "floating_ips", "security_group_rules", "security_groups":
			if v.atLeast(36) {
				continue
			}
		case "injected_file_content_bytes", "injected_file_path_bytes", "injected_files":
			if v.atLeast(57) {
				continue
			}
		}
		out = append(out, k)
	}
	return out
}

// quotaValue is the limit of one resource for the simulator's project.
func (s *Simulator) quotaValue(resource string) int {
	if resource == "instances" {
		return s.instanceQuota
	}
	if n, ok := s.opts.Quotas[resource]; ok {
		return n
	}
	return novaQuotaDefaults[resource]
}

// inUse is the usage Nova would count for a resource.
func (s *Simulator) inUse(resource string) int {
	switch resource {
	case "instances":
		return s.activeServers()
	case "cores", "ram":
		n := 0
		for _, sv := range s.servers {
			if resource == "cores" {
				n += sv.flavor.vcpus
			} else {
				n += sv.flavor.ram
			}
		}
		return n
	case "key_pairs":
		return len(s.keypairs)
	}
	return 0
}

// showQuota serves GET /os-quota-sets/{project} (kind ""), its /defaults
// and its /detail. Another project's quotas are the defaults, as in Nova,
// which does not check the project id here.
func (s *Simulator) showQuota(kind string) novaHandler {
	return func(w http.ResponseWriter, r *request, v microversion) {
		s.lockState()
		defer s.mu.Unlock()
		project := r.param("project")
		own := project == s.projectID && kind != "defaults"
		qs := map[string]any{"id": project}
		for _, res := range quotaResources(v) {
			limit := novaQuotaDefaults[res]
			if own {
				limit = s.quotaValue(res)
			}
			if kind != "detail" {
				qs[res] = limit
				continue
			}
			used := 0
			if own {
				used = s.inUse(res)
			}
			qs[res] = map[string]any{"in_use": used, "limit": limit, "reserved": 0}
		}
		writeJSON(w, http.StatusOK, map[string]any{"quota_set": qs})
	}
}

// updateQuota serves PUT /os-quota-sets/{project}. Any quota of the
// microversion may be given; only instances changes what the simulator
// enforces.
func (s *Simulator) updateQuota(w http.ResponseWriter, r *request, v microversion) {
	body, ok := readBody(r)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if !ok || dec.Decode(&doc) != nil {
		writeError(w, computeSvc, badRequest("Malformed request body"))
		return
	}
	raw, ok := doc["quota_set"]
	if !ok {
		writeError(w, computeSvc, schemaError("", doc, "'quota_set' is a required property"))
		return
	}
	set, ok := raw.(map[string]any)
	if !ok {
		writeError(w, computeSvc, notOfType("quota_set", raw, "object"))
		return
	}
	allowed := map[string]bool{"force": true}
	for _, res := range quotaResources(v) {
		allowed[res] = true
	}
	instances, hasInstances := 0, false
	for _, k := range sortedKeys(set) {
		if !allowed[k] {
			writeError(w, computeSvc, schemaError("quota_set", set, fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k)))
			return
		}
		if k == "force" {
			continue
		}
		n, apiErr := quotaNumber(k, set[k])
		if apiErr != nil {
			writeError(w, computeSvc, apiErr)
			return
		}
		if k == "instances" {
			instances, hasInstances = n, true
		}
	}

	s.lockState()
	defer s.mu.Unlock()
	if r.param("project") != s.projectID {
		writeError(w, computeSvc, badRequest(fmt.Sprintf("Project ID %s is not a valid project.", r.param("project"))))
		return
	}
	if hasInstances {
		force, _ := set["force"].(bool)
		if used := s.activeServers(); instances != -1 && instances < used && !force {
			writeError(w, computeSvc, badRequest(fmt.Sprintf(
				"Quota limit %d for instances must be greater than or equal to already used and reserved %d.", instances, used)))
			return
		}
		s.instanceQuota = instances
		s.log.Info("instance quota set", "instances", instances)
	}
	qs := map[string]any{}
	for _, res := range quotaResources(v) {
		qs[res] = s.quotaValue(res)
	}
	writeJSON(w, http.StatusOK, map[string]any{"quota_set": qs})
}

// quotaNumber reads a quota value: an integer, or a string of digits, of
// at least -1.
func quotaNumber(field string, raw any) (int, *apiError) {
	n, aerr := schemaInteger(field, raw)
	if aerr != nil {
		return 0, aerr
	}
	if n < -1 {
		return 0, schemaError(field, raw, pyRepr(raw)+" is less than the minimum of -1")
	}
	return int(n), nil
}

// showLimits serves GET /limits: the absolute limits and their usage.
func (s *Simulator) showLimits(w http.ResponseWriter, r *request, v microversion) {
	s.lockState()
	defer s.mu.Unlock()
	q := func(resource string) int { return s.quotaValue(resource) }
	abs := map[string]any{
		"maxServerMeta": q("metadata_items"), "maxImageMeta": q("metadata_items"), "maxTotalKeypairs": q("key_pairs"),
		"maxServerGroups": q("server_groups"), "maxServerGroupMembers": q("server_group_members"), "totalServerGroupsUsed": 0,
		"maxTotalCores": q("cores"), "totalCoresUsed": s.inUse("cores"),
		"maxTotalRAMSize": q("ram"), "totalRAMUsed": s.inUse("ram"),
		"maxTotalInstances": q("instances"), "totalInstancesUsed": s.inUse("instances"),
	}
	if !v.atLeast(36) {
		abs["maxSecurityGroups"] = q("security_groups")
		abs["maxSecurityGroupRules"] = q("security_group_rules")
		abs["maxTotalFloatingIps"] = q("floating_ips")
		abs["totalFloatingIpsUsed"] = 0
		abs["totalSecurityGroupsUsed"] = 0
	}
	if !v.atLeast(57) {
		abs["maxPersonality"] = q("injected_files")
		abs["maxPersonalitySize"] = q("injected_file_content_bytes")
	}
	writeJSON(w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
}
