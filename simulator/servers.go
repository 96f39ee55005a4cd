package simulator

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The simulated compute host's capacity. A flavor larger than this cannot
// be scheduled anywhere, which is what x1.impossible relies on.
const (
	hostRAM   = 131072 // MiB
	hostVCPUs = 64
	hostDisk  = 2000 // GiB
)

// maxMetadataItems is Nova's default metadata_items quota.
const maxMetadataItems = 128

// tooManyMetadataItems is Nova's answer to metadata beyond that quota.
func tooManyMetadataItems() *apiError {
	return &apiError{status: http.StatusForbidden, msg: fmt.Sprintf("Maximum number of metadata items exceeds %d", maxMetadataItems)}
}

func (s *Simulator) createServer(w http.ResponseWriter, r *request, v microversion) {
	body, ok := readBody(r)
	if !ok {
		writeError(w, computeSvc, &apiError{status: http.StatusRequestEntityTooLarge, msg: "Request is too large."})
		return
	}
	req, apiErr := parseCreateServer(body, v)
	if apiErr != nil {
		writeError(w, computeSvc, apiErr)
		return
	}
	now := s.lockState()
	defer s.mu.Unlock()
	created, apiErr := s.provision(req, now)
	if apiErr != nil {
		s.log.Info("server create refused", "name", req.name, "status", apiErr.status, "reason", apiErr.msg)
		writeError(w, computeSvc, apiErr)
		return
	}
	first := created[0]
	base := r.baseURL()
	pass := req.adminPass
	if pass == "" {
		pass = randomString(12, passwordChars)
	}
	groups := make([]any, 0, len(first.secGroups))
	for _, g := range first.secGroups {
		groups = append(groups, map[string]any{"name": g})
	}
	out := map[string]any{
		"id":                first.id,
		"links":             novaLinks(base, "servers", first.id),
		"OS-DCF:diskConfig": first.diskConfig,
		"security_groups":   groups,
		"adminPass":         pass,
	}
	w.Header().Set("Location", base+computePrefix+"/v2.1/servers/"+first.id)
	writeJSON(w, http.StatusAccepted, map[string]any{"server": out})
}

// provision checks a create request against the cloud's state, in the
// order Nova does (flavor, image, security groups, networks, key pair,
// metadata, quota), and records the new servers.
func (s *Simulator) provision(req *createRequest, now time.Time) ([]*server, *apiError) {
	flavorID := req.flavorRef
	if u, err := url.Parse(flavorID); err == nil && strings.Contains(flavorID, "/") {
		flavorID = u.Path[strings.LastIndex(u.Path, "/")+1:]
	}
	fl := s.findFlavor(flavorID)
	if fl == nil {
		return nil, badRequest(fmt.Sprintf("Flavor %s could not be found.", flavorID))
	}
	if req.imageRef != "" {
		img := s.findImage(req.imageRef)
		if img == nil {
			return nil, badRequest("Can not find requested image")
		}
		if img.status != "active" {
			return nil, badRequest(fmt.Sprintf("Image %s is not active.", img.id))
		}
	}
	groups := req.secGroups
	if len(groups) == 0 {
		groups = []string{"default"}
	}
	for _, g := range groups {
		if s.findSecGroup(g) == nil {
			return nil, badRequest(fmt.Sprintf("Security group %s not found.", g))
		}
	}
	nets, apiErr := s.resolveNetworks(req)
	if apiErr != nil {
		return nil, apiErr
	}
	if req.keyName != "" && s.findKeypair(req.keyName) == nil {
		return nil, badRequest("Invalid key_name provided.")
	}
	if len(req.metadata) > maxMetadataItems {
		return nil, tooManyMetadataItems()
	}
	count := req.maxCount
	if q := s.instanceQuota; q >= 0 {
		used := s.activeServers()
		if used+req.minCount > q {
			return nil, &apiError{status: http.StatusForbidden, msg: fmt.Sprintf(
				"Quota exceeded for instances: Requested %d, but already used %d of %d instances",
				req.maxCount, used, q)}
		}
		count = min(count, q-used)
	}

	reservation := "r-" + randomString(8, "abcdefghijklmnopqrstuvwxyz0123456789")
	diskConfig := req.diskConfig
	if diskConfig == "" {
		diskConfig = "MANUAL"
	}
	var out []*server
	for i := range count {
		name := req.name
		if count > 1 {
			name = fmt.Sprintf("%s-%d", req.name, i+1)
		}
		s.nextInstance++
		sv := &server{
			id: newUUID(), name: name, instanceNo: s.nextInstance, reservationID: reservation,
			flavor: fl, imageID: req.imageRef, keyName: req.keyName,
			secGroups: groups, metadata: copyMap(req.metadata), diskConfig: diskConfig,
			description: req.description, accessIPv4: req.accessIPv4, accessIPv6: req.accessIPv6,
			tags: req.tags, created: now,
		}
		sv.fate, sv.faultMsg = s.controls.fateFor(name, fl)
		if sv.fate != fateNoValidHost && sv.fate != fateFailed {
			if err := s.attach(sv, nets); err != "" {
				sv.fate = fateFailed
				sv.faultMsg = fmt.Sprintf("Build of instance %s aborted: %s", sv.id, err)
			}
		}
		s.servers[sv.id] = sv
		s.log.Info("server created", "id", sv.id, "name", name, "flavor", fl.name)
		out = append(out, sv)
	}
	return out, nil
}

// fits reports whether the simulated host can take a flavor at all.
func (f *flavor) fits() bool {
	return f.ram <= hostRAM && f.vcpus <= hostVCPUs && f.disk+f.ephem <= hostDisk
}

func serverNotFound(id string) *apiError {
	return notFound(fmt.Sprintf("Instance %s could not be found.", id))
}

// targetServer finds the server named by the {id} of the path, answering
// 404 when there is none. The caller holds s.mu.
func (s *Simulator) targetServer(w http.ResponseWriter, r *request) *server {
	sv := s.servers[r.param("id")]
	if sv == nil {
		writeError(w, computeSvc, serverNotFound(r.param("id")))
	}
	return sv
}

func (s *Simulator) showServer(w http.ResponseWriter, r *request, v microversion) {
	now := s.lockState()
	defer s.mu.Unlock()
	sv := s.targetServer(w, r)
	if sv == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": s.serverView(sv, s.phaseOf(sv, now), r.baseURL(), v)})
}

// deleteServer starts a deletion: the server stays listed, with
// task_state "deleting", for the delete delay.
func (s *Simulator) deleteServer(w http.ResponseWriter, r *request, _ microversion) {
	now := s.lockState()
	defer s.mu.Unlock()
	sv := s.targetServer(w, r)
	if sv == nil {
		return
	}
	if sv.deleteAt.IsZero() {
		sv.deleteAt = now
		s.log.Info("server deleting", "id", sv.id, "name", sv.name)
	}
	w.WriteHeader(http.StatusNoContent)
}

// serverStatuses are the statuses Nova knows; filtering on any other
// matches nothing.
var serverStatuses = map[string]bool{
	"ACTIVE": true, "BUILD": true, "DELETED": true, "ERROR": true, "HARD_REBOOT": true,
	"MIGRATING": true, "PASSWORD": true, "PAUSED": true, "REBOOT": true, "REBUILD": true,
	"RESCUE": true, "RESIZE": true, "REVERT_RESIZE": true, "SHELVED": true,
	"SHELVED_OFFLOADED": true, "SHUTOFF": true, "SOFT_DELETED": true, "SUSPENDED": true,
	"UNKNOWN": true, "VERIFY_RESIZE": true,
}

// listServers serves GET /servers and /servers/detail, newest first, with
// Nova's filters name (a regular expression), status, image, flavor, ip,
// key_name and changes-since; other filters are ignored.
func (s *Simulator) listServers(detail bool) novaHandler {
	return func(w http.ResponseWriter, r *request, v microversion) {
		q := r.URL.Query()
		match, apiErr := serverFilter(q)
		if apiErr != nil {
			writeError(w, computeSvc, apiErr)
			return
		}
		now := s.lockState()
		defer s.mu.Unlock()
		type entry struct {
			sv *server
			p  phase
		}
		var list []entry
		for _, sv := range s.servers {
			p := s.phaseOf(sv, now)
			if match(sv, p) {
				list = append(list, entry{sv, p})
			}
		}
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i].sv, list[j].sv
			if !a.created.Equal(b.created) {
				return a.created.After(b.created)
			}
			return a.id > b.id
		})
		page, next, apiErr := paginate(list, func(e entry) string { return e.sv.id }, q)
		if apiErr != nil {
			writeError(w, computeSvc, apiErr)
			return
		}
		out := make([]any, 0, len(page))
		for _, e := range page {
			if detail {
				view := s.serverView(e.sv, e.p, r.baseURL(), v)
				// Nova's list view leaves the fault out (seen on Zed);
				// only GET /servers/{id} shows it.
				delete(view, "fault")
				out = append(out, view)
			} else {
				out = append(out, serverSummary(e.sv, r.baseURL()))
			}
		}
		body := map[string]any{"servers": out}
		if next != "" {
			body["servers_links"] = []any{link(nextLink(r, next), "next")}
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// serverFilter compiles the list filters of q into a predicate.
func serverFilter(q url.Values) (func(*server, phase) bool, *apiError) {
	var preds []func(*server, phase) bool
	if name := q.Get("name"); name != "" {
		re := compileNovaRegex(name)
		preds = append(preds, func(sv *server, _ phase) bool { return re(sv.name) })
	}
	if st := q["status"]; len(st) > 0 {
		want := map[string]bool{}
		for _, x := range st {
			want[strings.ToUpper(strings.TrimSpace(x))] = true
		}
		preds = append(preds, func(_ *server, p phase) bool { return want[p.status] && serverStatuses[p.status] })
	}
	if img := q.Get("image"); img != "" {
		img = img[strings.LastIndex(img, "/")+1:]
		preds = append(preds, func(sv *server, _ phase) bool { return sv.imageID == img })
	}
	if fl := q.Get("flavor"); fl != "" {
		fl = fl[strings.LastIndex(fl, "/")+1:]
		preds = append(preds, func(sv *server, _ phase) bool { return sv.flavor.id == fl })
	}
	if ip := q.Get("ip"); ip != "" {
		re := compileNovaRegex(ip)
		preds = append(preds, func(sv *server, p phase) bool {
			for _, n := range sv.nics {
				if p.networked && re(n.ip) {
					return true
				}
			}
			return false
		})
	}
	if kn := q.Get("key_name"); kn != "" {
		preds = append(preds, func(sv *server, _ phase) bool { return sv.keyName == kn })
	}
	if cs := q.Get("changes-since"); cs != "" {
		since, err := time.Parse(time.RFC3339, cs)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("Invalid input for query parameters changes-since. Value: %s. '%s' is not a 'date-time'", cs, cs))
		}
		preds = append(preds, func(_ *server, p phase) bool { return !p.updated.Before(since) })
	}
	return func(sv *server, p phase) bool {
		for _, pred := range preds {
			if !pred(sv, p) {
				return false
			}
		}
		return true
	}, nil
}

// compileNovaRegex returns a matcher for a Nova regex filter. Nova hands
// the pattern to the database's REGEXP, which on MariaDB searches
// anywhere in the value, ignoring case. A pattern Go cannot compile is
// matched as a plain substring.
func compileNovaRegex(pattern string) func(string) bool {
	re, err := regexp.Compile("(?i)" + pattern)
	if err != nil {
		lower := strings.ToLower(pattern)
		return func(v string) bool { return strings.Contains(strings.ToLower(v), lower) }
	}
	return re.MatchString
}
