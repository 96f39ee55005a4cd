package simulator

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// image is a Glance v2 image. Images never change after seeding.
type image struct {
	id, name                 string
	status                   string
	diskFormat, containerFmt string
	size                     int64
	minDisk, minRAM          int
	checksum, hashValue      string
	tags                     []string
	props                    map[string]string
	created, updated         time.Time
	visibility               string
	protected, hidden        bool
}

// glanceDefaultLimit is Glance's limit_param_default, the page size when
// the request gives none.
const glanceDefaultLimit = 25

func (s *Simulator) imageRoutes(add addRoute) {
	p := imagePrefix
	add("GET", p, false, s.glanceVersions)
	add("GET", p+"/versions", false, s.glanceVersions)
	add("GET", p+"/v2/images", true, s.listImages)
	add("GET", p+"/v2/images/{id}", true, s.showImage)
}

// glanceVersions answers the unversioned endpoint, which gophercloud's
// NewImageV2 reads to check v2 is there: 300 Multiple Choices with Glance
// 25's (Zed) versions.
func (s *Simulator) glanceVersions(w http.ResponseWriter, r *request) {
	href := r.baseURL() + imagePrefix + "/v2/"
	var vs []any
	for minor := 15; minor >= 0; minor-- {
		status := "SUPPORTED"
		if minor == 15 {
			status = "CURRENT"
		}
		vs = append(vs, map[string]any{
			"id": "v2." + strconv.Itoa(minor), "status": status,
			"links": []any{link(href, "self")},
		})
	}
	status := http.StatusMultipleChoices
	if hasPathPrefix(r.URL.Path, imagePrefix+"/versions") {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"versions": vs})
}

func (s *Simulator) findImage(id string) *image {
	for _, img := range s.images {
		if img.id == id {
			return img
		}
	}
	return nil
}

func imageView(img *image, owner string) map[string]any {
	out := map[string]any{
		"id":               img.id,
		"name":             img.name,
		"status":           img.status,
		"disk_format":      img.diskFormat,
		"container_format": img.containerFmt,
		"size":             img.size,
		"virtual_size":     nil,
		"min_disk":         img.minDisk,
		"min_ram":          img.minRAM,
		"checksum":         img.checksum,
		"os_hash_algo":     "sha512",
		"os_hash_value":    img.hashValue,
		"os_hidden":        img.hidden,
		"owner":            owner,
		"protected":        img.protected,
		"visibility":       img.visibility,
		"tags":             append([]string{}, img.tags...),
		"created_at":       isoTime(img.created),
		"updated_at":       isoTime(img.updated),
		"self":             "/v2/images/" + img.id,
		"file":             "/v2/images/" + img.id + "/file",
		"schema":           "/v2/schemas/image",
	}
	for k, v := range img.props {
		out[k] = v
	}
	return out
}

func (s *Simulator) showImage(w http.ResponseWriter, r *request) {
	s.mu.Lock()
	img := s.findImage(r.param("id"))
	var out map[string]any
	if img != nil {
		out = imageView(img, s.projectID)
	}
	s.mu.Unlock()
	if img == nil {
		writeError(w, imageSvc, notFound("No image found with ID "+r.param("id")))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// listImages serves GET /v2/images, newest first, with Glance's filters on
// name, id, status, visibility, owner, formats, tag, protected and
// os_hidden ("in:a,b" lists allowed where Glance allows them); any other
// parameter filters on an image property, as in Glance.
func (s *Simulator) listImages(w http.ResponseWriter, r *request) {
	q := r.URL.Query()
	s.mu.Lock()
	var list []*image
	for _, img := range s.images {
		if imageMatches(img, q, s.projectID) {
			list = append(list, img)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].created.Equal(list[j].created) {
			return list[i].created.After(list[j].created)
		}
		return list[i].id > list[j].id
	})
	page, next, apiErr := paginateWith(list, func(img *image) string { return img.id }, q, glanceDefaultLimit,
		func(m string) string { return "No image found with ID " + m })
	out := make([]any, 0, len(page))
	for _, img := range page {
		out = append(out, imageView(img, s.projectID))
	}
	s.mu.Unlock()
	if apiErr != nil {
		writeError(w, imageSvc, apiErr)
		return
	}
	first := url.Values{}
	for k, v := range q {
		if k != "marker" {
			first[k] = v
		}
	}
	body := map[string]any{"images": out, "schema": "/v2/schemas/images", "first": withQuery("/v2/images", first)}
	if next != "" {
		first.Set("marker", next)
		body["next"] = withQuery("/v2/images", first)
	}
	writeJSON(w, http.StatusOK, body)
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// glanceListParams are the query parameters that are not image filters.
var glanceListParams = map[string]bool{
	"limit": true, "marker": true, "sort_key": true, "sort_dir": true, "sort": true,
	"member_status": true, "size_min": true, "size_max": true, "created_at": true, "updated_at": true,
}

func imageMatches(img *image, q url.Values, owner string) bool {
	hidden := q.Get("os_hidden") == "true"
	if img.hidden != hidden {
		return false
	}
	for key, values := range q {
		val := values[0]
		switch key {
		case "name":
			if !inFilter(val, img.name) {
				return false
			}
		case "id":
			if !inFilter(val, img.id) {
				return false
			}
		case "status":
			if !inFilter(val, img.status) {
				return false
			}
		case "container_format":
			if !inFilter(val, img.containerFmt) {
				return false
			}
		case "disk_format":
			if !inFilter(val, img.diskFormat) {
				return false
			}
		case "visibility":
			if val != "all" && val != img.visibility {
				return false
			}
		case "owner":
			if val != owner {
				return false
			}
		case "protected":
			if val != strconv.FormatBool(img.protected) {
				return false
			}
		case "tag":
			for _, t := range values {
				if !contains(img.tags, t) {
					return false
				}
			}
		case "os_hidden":
		default:
			if glanceListParams[key] {
				continue
			}
			if v, ok := img.props[key]; !ok || v != val {
				return false
			}
		}
	}
	return true
}

// inFilter matches Glance's equality filter, which also takes "in:a,b".
func inFilter(filter, value string) bool {
	if list, ok := strings.CutPrefix(filter, "in:"); ok {
		return contains(strings.Split(list, ","), value)
	}
	return filter == value
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
