package simulator

import (
	"fmt"
	"regexp"
	"strings"
)

// serverSummary is a server as GET /servers lists it.
func serverSummary(sv *server, base string) map[string]any {
	return map[string]any{"id": sv.id, "name": sv.name, "links": novaLinks(base, "servers", sv.id)}
}

// serverView renders a server as GET /servers/{id} and GET /servers/detail
// do at microversion v, seen by an admin (so the OS-EXT-SRV-ATTR fields
// and fault details are present).
func (s *Simulator) serverView(sv *server, p phase, base string, v microversion) map[string]any {
	out := serverSummary(sv, base)
	out["status"] = p.status
	out["tenant_id"] = s.projectID
	out["user_id"] = s.userID
	out["metadata"] = copyMap(sv.metadata)
	out["created"] = isoTime(sv.created)
	out["updated"] = isoTime(p.updated)
	out["accessIPv4"] = sv.accessIPv4
	out["accessIPv6"] = sv.accessIPv6
	out["config_drive"] = ""
	out["OS-DCF:diskConfig"] = sv.diskConfig
	out["OS-EXT-STS:vm_state"] = p.vmState
	out["OS-EXT-STS:task_state"] = p.taskState
	out["OS-EXT-STS:power_state"] = p.powerState
	out["OS-SRV-USG:terminated_at"] = nil
	out["os-extended-volumes:volumes_attached"] = []any{}
	out["key_name"] = nil
	if sv.keyName != "" {
		out["key_name"] = sv.keyName
	}
	if p.status == "ACTIVE" || p.status == "BUILD" {
		out["progress"] = 0
	}
	out["OS-SRV-USG:launched_at"] = nil
	if !p.launched.IsZero() {
		out["OS-SRV-USG:launched_at"] = p.launched.UTC().Format(isoMicrosNoZone)
	}

	out["hostId"] = ""
	out["OS-EXT-AZ:availability_zone"] = ""
	out["OS-EXT-SRV-ATTR:host"] = nil
	out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = nil
	if p.scheduled {
		out["hostId"] = s.hostID()
		out["OS-EXT-AZ:availability_zone"] = "nova"
		out["OS-EXT-SRV-ATTR:host"] = computeHost
		out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = hypervisorHost
	}
	out["OS-EXT-SRV-ATTR:instance_name"] = fmt.Sprintf("instance-%08x", sv.instanceNo)

	out["image"] = ""
	if sv.imageID != "" {
		out["image"] = map[string]any{
			"id":    sv.imageID,
			"links": []any{link(base+computePrefix+"/images/"+sv.imageID, "bookmark")},
		}
	}
	out["flavor"] = serverFlavor(sv.flavor, base, v)
	out["addresses"] = s.addresses(sv, p)
	if p.networked && len(sv.nics) > 0 {
		groups := make([]any, 0, len(sv.secGroups))
		for _, g := range sv.secGroups {
			groups = append(groups, map[string]any{"name": g})
		}
		out["security_groups"] = groups
	}
	if p.fault != nil {
		out["fault"] = faultView(p.fault)
	}
	addMicroversionFields(out, sv, p, v)
	return out
}

// addMicroversionFields adds what later microversions show.
func addMicroversionFields(out map[string]any, sv *server, p phase, v microversion) {
	if v.atLeast(3) {
		out["OS-EXT-SRV-ATTR:reservation_id"] = sv.reservationID
		out["OS-EXT-SRV-ATTR:launch_index"] = 0
		out["OS-EXT-SRV-ATTR:hostname"] = sanitizeHostname(sv.name)
		out["OS-EXT-SRV-ATTR:kernel_id"] = ""
		out["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
		out["OS-EXT-SRV-ATTR:root_device_name"] = nil
		if p.networked {
			out["OS-EXT-SRV-ATTR:root_device_name"] = "/dev/vda"
		}
		out["OS-EXT-SRV-ATTR:user_data"] = nil
		out["os-extended-volumes:volumes_attached"] = []any{}
	}
	if v.atLeast(9) {
		out["locked"] = false
	}
	if v.atLeast(16) {
		out["host_status"] = ""
		if p.scheduled {
			out["host_status"] = "UP"
		}
	}
	if v.atLeast(19) {
		out["description"] = sv.description
	}
	if v.atLeast(26) {
		tags := append([]string{}, sv.tags...)
		out["tags"] = tags
	}
	if v.atLeast(71) {
		out["server_groups"] = []any{}
	}
	if v.atLeast(73) {
		out["locked_reason"] = nil
	}
}

// serverFlavor is the server's flavor: a reference before 2.47, the
// flavor's own values (as it was at boot) from 2.47 on.
func serverFlavor(f *flavor, base string, v microversion) map[string]any {
	if !v.atLeast(47) {
		return map[string]any{
			"id":    f.id,
			"links": []any{link(base+computePrefix+"/flavors/"+f.id, "bookmark")},
		}
	}
	return map[string]any{
		"original_name": f.name,
		"vcpus":         f.vcpus,
		"ram":           f.ram,
		"disk":          f.disk,
		"ephemeral":     f.ephem,
		"swap":          f.swap,
		"extra_specs":   copyMap(f.extraSpecs),
	}
}

// addresses groups a server's fixed IPs by network name, once its network
// is set up; a server in early BUILD or in ERROR shows none.
func (s *Simulator) addresses(sv *server, p phase) map[string]any {
	out := map[string]any{}
	if !p.networked {
		return out
	}
	for _, n := range sv.nics {
		name := n.networkID
		if net := s.findNetwork(n.networkID); net != nil {
			name = net.name
		}
		list, _ := out[name].([]any)
		out[name] = append(list, map[string]any{
			"addr":                    n.ip,
			"version":                 4,
			"OS-EXT-IPS:type":         "fixed",
			"OS-EXT-IPS-MAC:mac_addr": n.mac,
		})
	}
	return out
}

// faultView is the fault Nova shows on an ERROR server. Nova shows the
// details (a traceback) to admins, which the simulator's user is.
func faultView(f *serverFault) map[string]any {
	details := fmt.Sprintf("Traceback (most recent call last):\n"+
		"  File \"/usr/lib/python3/dist-packages/nova/compute/manager.py\", line 2437, in _build_and_run_instance\n"+
		"    self.driver.spawn(context, instance, image_meta,\n"+
		"nova.exception.BuildAbortException: Build of instance %s aborted: %s\n", f.instanceUUID, f.message)
	if f.noValidHost {
		details = "Traceback (most recent call last):\n" +
			"  File \"/usr/lib/python3/dist-packages/nova/conductor/manager.py\", line 1580, in schedule_and_build_instances\n" +
			"    host_lists = self._schedule_instances(context, request_specs[0],\n" +
			"nova.exception.NoValidHost: " + noValidHostMessage + "\n"
	}
	return map[string]any{
		"code":    500,
		"created": isoTime(f.created),
		"message": f.message,
		"details": details,
	}
}

var hostnameJunk = regexp.MustCompile(`[^a-z0-9.-]`)

// sanitizeHostname derives the guest hostname from the display name as
// nova.utils.sanitize_hostname does.
func sanitizeHostname(name string) string {
	h := strings.ToLower(name)
	h = strings.NewReplacer(" ", "-", "_", "-").Replace(h)
	h = hostnameJunk.ReplaceAllString(h, "")
	if len(h) > 63 {
		h = h[:63]
	}
	h = strings.Trim(h, ".-")
	if h == "" {
		h = "server"
	}
	return h
}
