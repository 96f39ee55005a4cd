package simulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// createRequest is a POST /servers body that passed Nova's schema checks.
type createRequest struct {
	name         string
	flavorRef    string
	imageRef     string
	networks     []netRequest // nil: none requested (automatic choice)
	networksNone bool         // "none" (2.37+): no network at all
	keyName      string
	secGroups    []string
	metadata     map[string]string
	adminPass    string
	diskConfig   string
	description  *string
	minCount     int
	maxCount     int
	accessIPv4   string
	accessIPv6   string
	tags         []string
}

type netRequest struct{ uuid, port, fixedIP string }

// serverKeys are the members of "server" each schema version allows, with
// the first microversion that allows them (0: always) and the last (0: still).
var serverKeys = map[string][2]int{
	"name": {}, "imageRef": {}, "flavorRef": {}, "adminPass": {}, "metadata": {},
	"networks": {}, "OS-DCF:diskConfig": {}, "accessIPv4": {}, "accessIPv6": {},
	"personality": {0, 56}, "availability_zone": {}, "block_device_mapping": {},
	"block_device_mapping_v2": {}, "config_drive": {}, "key_name": {},
	"min_count": {}, "max_count": {}, "return_reservation_id": {},
	"security_groups": {}, "user_data": {}, "description": {19, 0}, "tags": {52, 0},
	"trusted_image_certificates": {63, 0}, "host": {74, 0},
	"hypervisor_hostname": {74, 0}, "hostname": {90, 0},
}

// parseCreateServer checks a POST /servers body as Nova's schema and
// controller do before anything is looked up, and returns it decoded.
func parseCreateServer(body []byte, v microversion) (*createRequest, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil || dec.More() {
		return nil, badRequest("Malformed request body")
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, schemaError("", doc, pyRepr(doc)+" is not of type 'object'")
	}
	rawServer, ok := top["server"]
	if !ok {
		return nil, schemaError("", top, "'server' is a required property")
	}
	for _, k := range sortedKeys(top) {
		if k != "server" && k != "os:scheduler_hints" && k != "OS-SCH-HNT:scheduler_hints" {
			return nil, schemaError("", top, fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k))
		}
	}
	sd, ok := rawServer.(map[string]any)
	if !ok {
		return nil, notOfType("server", rawServer, "object")
	}
	required := []string{"name", "flavorRef"}
	if v.atLeast(37) {
		required = append(required, "networks")
	}
	for _, k := range required {
		if _, ok := sd[k]; !ok {
			return nil, schemaError("server", sd, fmt.Sprintf("'%s' is a required property", k))
		}
	}
	for _, k := range sortedKeys(sd) {
		span, known := serverKeys[k]
		if !known || !v.atLeast(span[0]) || (span[1] != 0 && v.minor > span[1]) {
			return nil, schemaError("server", sd, fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k))
		}
	}

	req := &createRequest{minCount: 1}
	var apiErr *apiError
	if req.name, apiErr = nameField("name", sd["name"]); apiErr != nil {
		return nil, apiErr
	}
	switch f := sd["flavorRef"].(type) {
	case string:
		if f == "" {
			return nil, schemaError("flavorRef", f, "'' is too short")
		}
		req.flavorRef = f
	case json.Number:
		if _, err := f.Int64(); err != nil {
			return nil, notOfType("flavorRef", f, "string", "integer")
		}
		req.flavorRef = f.String()
	default:
		return nil, notOfType("flavorRef", f, "string", "integer")
	}
	if raw, ok := sd["imageRef"]; ok {
		img, isStr := raw.(string)
		if !isStr || (img != "" && !isUUIDLike(img)) {
			return nil, notValidUnderAny("imageRef", raw)
		}
		req.imageRef = img
	}
	_, hasBDM := sd["block_device_mapping_v2"]
	if _, legacy := sd["block_device_mapping"]; legacy {
		hasBDM = true
	}
	if req.imageRef == "" && !hasBDM {
		return nil, badRequest("Missing imageRef attribute")
	}
	if apiErr = parseNetworks(req, sd, v); apiErr != nil {
		return nil, apiErr
	}
	if apiErr = parseOptionalFields(req, sd); apiErr != nil {
		return nil, apiErr
	}
	return req, nil
}

func parseNetworks(req *createRequest, sd map[string]any, v microversion) *apiError {
	raw, ok := sd["networks"]
	if !ok {
		return nil
	}
	if s, isStr := raw.(string); isStr && v.atLeast(37) {
		switch s {
		case "auto":
			return nil
		case "none":
			req.networksNone = true
			return nil
		}
		return notValidUnderAny("networks", raw)
	}
	list, ok := raw.([]any)
	if !ok {
		if v.atLeast(37) {
			return notValidUnderAny("networks", raw)
		}
		return notOfType("networks", raw, "array")
	}
	allowed := map[string]bool{"uuid": true, "port": true, "fixed_ip": true, "tag": v.atLeast(32)}
	req.networks = []netRequest{}
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return notOfType("networks", item, "object")
		}
		var n netRequest
		for _, k := range sortedKeys(m) {
			if !allowed[k] {
				return schemaError("networks", m, fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k))
			}
			val := m[k]
			if k == "port" && val == nil {
				continue
			}
			s, ok := val.(string)
			if !ok {
				return notOfType(k, val, "string")
			}
			switch k {
			case "uuid":
				n.uuid = s
			case "port":
				if !isUUIDLike(s) {
					return notValidUnderAny("port", val)
				}
				n.port = s
			case "fixed_ip":
				if _, err := netip.ParseAddr(s); err != nil {
					return schemaError("fixed_ip", val, pyRepr(val)+" is not a 'ip-address'")
				}
				n.fixedIP = s
			}
		}
		if n.port == "" {
			if _, has := m["uuid"]; !has {
				return badRequest("Bad network format: missing 'uuid'")
			}
			if !isUUIDLike(n.uuid) {
				// Nova still honours the Folsom-era "br-<uuid>" form.
				_, rest, _ := strings.Cut(n.uuid, "-")
				if !isUUIDLike(rest) {
					return badRequest(fmt.Sprintf("Bad networks format: network uuid is not in proper format (%s)", n.uuid))
				}
				n.uuid = rest
			}
		}
		req.networks = append(req.networks, n)
	}
	if len(req.networks) == 0 {
		req.networks = nil
	}
	return nil
}

func parseOptionalFields(req *createRequest, sd map[string]any) *apiError {
	if raw, ok := sd["metadata"]; ok {
		md, apiErr := parseMetadata(raw)
		if apiErr != nil {
			return apiErr
		}
		req.metadata = md
	}
	if raw, ok := sd["key_name"]; ok {
		s, ok := raw.(string)
		if !ok {
			return notOfType("key_name", raw, "string")
		}
		if s == "" {
			return schemaError("key_name", raw, "'' is too short")
		}
		req.keyName = s
	}
	if raw, ok := sd["security_groups"]; ok {
		list, ok := raw.([]any)
		if !ok {
			return notOfType("security_groups", raw, "array")
		}
		seen := map[string]bool{}
		for _, item := range list {
			m, ok := item.(map[string]any)
			if !ok {
				return notOfType("security_groups", item, "object")
			}
			for _, k := range sortedKeys(m) {
				if k != "name" {
					return schemaError("security_groups", m, fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k))
				}
			}
			if m["name"] == nil {
				continue
			}
			name, apiErr := nameField("name", m["name"])
			if apiErr != nil {
				return apiErr
			}
			if !seen[name] {
				seen[name] = true
				req.secGroups = append(req.secGroups, name)
			}
		}
	}
	if raw, ok := sd["adminPass"]; ok {
		s, ok := raw.(string)
		if !ok {
			return notOfType("adminPass", raw, "string")
		}
		req.adminPass = s
	}
	if raw, ok := sd["OS-DCF:diskConfig"]; ok {
		if s, _ := raw.(string); s != "AUTO" && s != "MANUAL" {
			return schemaError("OS-DCF:diskConfig", raw, pyRepr(raw)+" is not one of ['AUTO', 'MANUAL']")
		}
		req.diskConfig = raw.(string)
	}
	for _, f := range []struct {
		key string
		dst *string
		is6 bool
	}{{"accessIPv4", &req.accessIPv4, false}, {"accessIPv6", &req.accessIPv6, true}} {
		raw, ok := sd[f.key]
		if !ok {
			continue
		}
		s, isStr := raw.(string)
		addr, err := netip.ParseAddr(s)
		if !isStr || err != nil || addr.Is6() != f.is6 {
			format := map[bool]string{false: "ipv4", true: "ipv6"}[f.is6]
			return schemaError(f.key, raw, fmt.Sprintf("%s is not a '%s'", pyRepr(raw), format))
		}
		*f.dst = s
	}
	if raw, ok := sd["user_data"]; ok && raw != nil {
		s, isStr := raw.(string)
		if !isStr {
			return notOfType("user_data", raw, "string", "null")
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return schemaError("user_data", raw, pyRepr(raw)+" is not a 'base64'")
		}
	}
	if raw, ok := sd["description"]; ok && raw != nil {
		s, isStr := raw.(string)
		if !isStr {
			return notOfType("description", raw, "string", "null")
		}
		if len([]rune(s)) > 255 {
			return schemaError("description", raw, pyRepr(raw)+" is too long")
		}
		req.description = &s
	}
	if raw, ok := sd["tags"]; ok {
		list, isList := raw.([]any)
		if !isList {
			return notOfType("tags", raw, "array")
		}
		for _, t := range list {
			s, isStr := t.(string)
			if !isStr || s == "" || len(s) > 60 || strings.ContainsAny(s, ",/") {
				return schemaError("tags", raw, pyRepr(t)+" is not a valid tag")
			}
			req.tags = append(req.tags, s)
		}
	}
	var apiErr *apiError
	if req.minCount, apiErr = countField(sd, "min_count", 1); apiErr != nil {
		return apiErr
	}
	if req.maxCount, apiErr = countField(sd, "max_count", req.minCount); apiErr != nil {
		return apiErr
	}
	if req.minCount > req.maxCount {
		return badRequest("min_count must be <= max_count")
	}
	return nil
}
