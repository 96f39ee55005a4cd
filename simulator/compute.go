package simulator

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
)

// compute is Nova's state: flavors, key pairs, servers and the instance
// quota.
type compute struct {
	flavors  []*flavor
	keypairs []*keypair
	servers  map[string]*server
	// nextInstance numbers instances for their instance-%08x names.
	nextInstance int
	// instanceQuota is the project's instances limit; -1 is unlimited.
	instanceQuota int
}

// flavor is a Nova flavor. Flavors never change after seeding.
type flavor struct {
	id, name                string
	ram, vcpus, disk, ephem int
	swap                    int
	description             *string
	extraSpecs              map[string]string
}

func (s *Simulator) computeRoutes(add addRoute) {
	p := computePrefix
	v := p + "/v2.1"
	add("GET", p, false, s.novaVersions)
	add("GET", v, false, nova(s.novaVersion))
	add("GET", v+"/flavors", true, nova(s.listFlavors(false)))
	add("GET", v+"/flavors/detail", true, nova(s.listFlavors(true)))
	add("GET", v+"/flavors/{id}", true, nova(s.showFlavor))
	add("GET", v+"/servers", true, nova(s.listServers(false)))
	add("POST", v+"/servers", true, nova(s.createServer))
	add("GET", v+"/servers/detail", true, nova(s.listServers(true)))
	add("GET", v+"/servers/{id}", true, nova(s.showServer))
	add("DELETE", v+"/servers/{id}", true, nova(s.deleteServer))
	add("GET", v+"/servers/{id}/metadata", true, nova(s.listMetadata))
	add("PUT", v+"/servers/{id}/metadata", true, nova(s.replaceMetadata))
	add("POST", v+"/servers/{id}/metadata", true, nova(s.mergeMetadata))
	add("GET", v+"/servers/{id}/metadata/{key}", true, nova(s.showMetadataItem))
	add("PUT", v+"/servers/{id}/metadata/{key}", true, nova(s.setMetadataItem))
	add("DELETE", v+"/servers/{id}/metadata/{key}", true, nova(s.deleteMetadataItem))
	add("GET", v+"/os-keypairs", true, nova(s.listKeypairs))
	add("POST", v+"/os-keypairs", true, nova(s.createKeypair))
	add("GET", v+"/os-keypairs/{name}", true, nova(s.showKeypair))
	add("DELETE", v+"/os-keypairs/{name}", true, nova(s.deleteKeypair))
	add("GET", v+"/os-quota-sets/{project}", true, nova(s.showQuota("")))
	add("PUT", v+"/os-quota-sets/{project}", true, nova(s.updateQuota))
	add("GET", v+"/os-quota-sets/{project}/defaults", true, nova(s.showQuota("defaults")))
	add("GET", v+"/os-quota-sets/{project}/detail", true, nova(s.showQuota("detail")))
	add("GET", v+"/limits", true, nova(s.showLimits))
}

func novaVersionDoc(base string, full bool) map[string]any {
	doc := map[string]any{
		"id":          "v2.1",
		"status":      "CURRENT",
		"version":     maxMicroversion.String(),
		"min_version": minMicroversion.String(),
		"updated":     "2013-07-23T11:33:21Z",
		"links":       []any{link(base+computePrefix+"/v2.1/", "self")},
	}
	if full {
		doc["links"] = []any{
			link(base+computePrefix+"/v2.1/", "self"),
			map[string]any{"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
		}
		doc["media-types"] = []any{map[string]any{
			"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1",
		}}
	}
	return doc
}

// novaVersions answers GET /compute/, Nova's version list. Like Nova it
// needs no token.
func (s *Simulator) novaVersions(w http.ResponseWriter, r *request) {
	base := r.baseURL()
	v20 := map[string]any{
		"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
		"updated": "2011-01-21T11:33:21Z",
		"links":   []any{link(base+computePrefix+"/v2/", "self")},
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{v20, novaVersionDoc(base, false)}})
}

func (s *Simulator) novaVersion(w http.ResponseWriter, r *request, _ microversion) {
	writeJSON(w, http.StatusOK, map[string]any{"version": novaVersionDoc(r.baseURL(), true)})
}

func link(href, rel string) map[string]any { return map[string]any{"href": href, "rel": rel} }

// novaLinks are the self and bookmark links Nova gives every resource.
func novaLinks(base, collection, id string) []any {
	return []any{
		link(base+computePrefix+"/v2.1/"+collection+"/"+id, "self"),
		link(base+computePrefix+"/"+collection+"/"+id, "bookmark"),
	}
}

func (s *Simulator) findFlavor(id string) *flavor {
	for _, f := range s.flavors {
		if f.id == id {
			return f
		}
	}
	return nil
}

func (s *Simulator) listFlavors(detail bool) novaHandler {
	return func(w http.ResponseWriter, r *request, v microversion) {
		q := r.URL.Query()
		minRAM, errRAM := optionalInt(q.Get("minRam"))
		minDisk, errDisk := optionalInt(q.Get("minDisk"))
		if errRAM != nil || errDisk != nil {
			writeError(w, computeSvc, badRequest("Invalid input for query parameters minRam/minDisk. Value must be an integer."))
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var fs []*flavor
		for _, f := range s.flavors {
			if f.ram >= minRAM && f.disk >= minDisk {
				fs = append(fs, f)
			}
		}
		// Nova sorts flavors by flavorid, ascending, unless told otherwise.
		sort.Slice(fs, func(i, j int) bool { return fs[i].id < fs[j].id })
		page, next, apiErr := paginate(fs, func(f *flavor) string { return f.id }, q)
		if apiErr != nil {
			writeError(w, computeSvc, apiErr)
			return
		}
		out := make([]any, 0, len(page))
		for _, f := range page {
			out = append(out, flavorView(f, r.baseURL(), v, detail))
		}
		body := map[string]any{"flavors": out}
		if next != "" {
			body["flavors_links"] = []any{link(nextLink(r, next), "next")}
		}
		writeJSON(w, http.StatusOK, body)
	}
}

func (s *Simulator) showFlavor(w http.ResponseWriter, r *request, v microversion) {
	s.mu.Lock()
	f := s.findFlavor(r.param("id"))
	s.mu.Unlock()
	if f == nil {
		writeError(w, computeSvc, notFound(fmt.Sprintf("Flavor %s could not be found.", r.param("id"))))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"flavor": flavorView(f, r.baseURL(), v, true)})
}

// flavorView renders a flavor as GET /flavors/detail does; the summary
// has only id, name and links (and description from 2.55).
func flavorView(f *flavor, base string, v microversion, detail bool) map[string]any {
	out := map[string]any{"id": f.id, "name": f.name, "links": novaLinks(base, "flavors", f.id)}
	if v.atLeast(55) {
		out["description"] = f.description
	}
	if !detail {
		return out
	}
	out["ram"] = f.ram
	out["vcpus"] = f.vcpus
	out["disk"] = f.disk
	out["OS-FLV-EXT-DATA:ephemeral"] = f.ephem
	out["OS-FLV-DISABLED:disabled"] = false
	out["os-flavor-access:is_public"] = true
	out["rxtx_factor"] = 1.0
	// Before 2.75 Nova shows a swap of 0 as an empty string.
	if f.swap == 0 && !v.atLeast(75) {
		out["swap"] = ""
	} else {
		out["swap"] = f.swap
	}
	if v.atLeast(61) {
		out["extra_specs"] = copyMap(f.extraSpecs)
	}
	return out
}

func optionalInt(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
