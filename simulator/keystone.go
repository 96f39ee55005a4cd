package simulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
)

// Keystone identity of the simulated cloud: one domain, one user, one
// project on which the user holds the admin, member and reader roles.
const (
	domainID     = "default"
	domainName   = "Default"
	regionName   = "RegionOne"
	keystoneVer  = "v3.14" // Keystone 22 (Zed) serves identity API v3.14
	keystoneDate = "2020-04-07T00:00:00Z"

	// tokenLifetime is how long an issued token stays valid.
	tokenLifetime = 3 * time.Hour
)

type identity struct {
	userID, projectID string
	roles             []namedID
	services          []catalogService
	tokens            map[string]*token
}

type namedID struct{ id, name string }

type catalogService struct {
	id, typ, name, path string
	endpointIDs         [3]string // public, internal, admin
}

// token is an issued Keystone token. A token without a project scope is
// valid for Keystone only; the other services refuse it.
type token struct {
	id       string
	scoped   bool
	methods  []string
	auditID  string
	issuedAt time.Time
	expires  time.Time
}

func (s *Simulator) seedIdentity() {
	s.userID = newHexID()
	s.projectID = newHexID()
	s.roles = []namedID{{newHexID(), "admin"}, {newHexID(), "member"}, {newHexID(), "reader"}}
	s.tokens = map[string]*token{}
	for _, c := range []struct{ typ, name, path string }{
		{"identity", "keystone", "/v3"},
		{"compute", "nova", computePrefix + "/v2.1"},
		{"image", "glance", imagePrefix},
		{"network", "neutron", networkPrefix},
	} {
		s.services = append(s.services, catalogService{
			id: newHexID(), typ: c.typ, name: c.name, path: c.path,
			endpointIDs: [3]string{newHexID(), newHexID(), newHexID()},
		})
	}
}

func (s *Simulator) identityRoutes(add addRoute) {
	add("GET", "/", false, s.keystoneVersions)
	add("GET", "/v3", false, s.keystoneVersion)
	add("POST", "/v3/auth/tokens", false, s.issueToken)
	add("HEAD", "/v3/auth/tokens", true, s.checkToken)
	add("GET", "/v3/auth/tokens", true, s.showToken)
	add("DELETE", "/v3/auth/tokens", true, s.revokeToken)
}

func keystoneVersionDoc(base string) map[string]any {
	return map[string]any{
		"id":      keystoneVer,
		"status":  "stable",
		"updated": keystoneDate,
		"links":   []any{map[string]any{"rel": "self", "href": base + "/v3/"}},
		"media-types": []any{map[string]any{
			"base": "application/json", "type": "application/vnd.openstack.identity-v3+json",
		}},
	}
}

// keystoneVersions answers GET / as Keystone does: 300 Multiple Choices.
func (s *Simulator) keystoneVersions(w http.ResponseWriter, r *request) {
	writeJSON(w, http.StatusMultipleChoices, map[string]any{
		"versions": map[string]any{"values": []any{keystoneVersionDoc(r.baseURL())}},
	})
}

func (s *Simulator) keystoneVersion(w http.ResponseWriter, r *request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": keystoneVersionDoc(r.baseURL())})
}

// authRequest is the body of POST /v3/auth/tokens.
type authRequest struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User *struct {
					ID       string  `json:"id"`
					Name     string  `json:"name"`
					Password string  `json:"password"`
					Domain   *idName `json:"domain"`
				} `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

type idName struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type authScope struct {
	Project *struct {
		ID     string  `json:"id"`
		Name   string  `json:"name"`
		Domain *idName `json:"domain"`
	} `json:"project"`
	Domain *idName         `json:"domain"`
	System json.RawMessage `json:"system"`
}

// keystoneBadJSON is Keystone's ValidationError text for a body that is
// not JSON.
const keystoneBadJSON = "Expecting to find valid JSON in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."

func (s *Simulator) issueToken(w http.ResponseWriter, r *request) {
	body, ok := readBody(r)
	var req authRequest
	if !ok || json.Unmarshal(body, &req) != nil {
		writeError(w, identitySvc, badRequest(keystoneBadJSON))
		return
	}
	if req.Auth == nil {
		writeError(w, identitySvc, badRequest("Invalid input for field 'auth': 'auth' is a required property"))
		return
	}
	id := req.Auth.Identity
	if id == nil || len(id.Methods) == 0 {
		writeError(w, identitySvc, badRequest("Invalid input for field 'identity': 'methods' is a required property"))
		return
	}
	var scope authScope
	if len(req.Auth.Scope) > 0 && string(req.Auth.Scope) != "null" && json.Unmarshal(req.Auth.Scope, &scope) != nil {
		writeError(w, identitySvc, badRequest("Invalid input for field 'scope': the scope is not an object"))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC()
	if !s.authenticated(id.Methods, req, now) || !s.scopeAllowed(scope) {
		s.log.Info("authentication refused")
		writeUnauthorized(w, r.Request)
		return
	}
	tok := &token{
		id:       newTokenID(),
		scoped:   scope.Project != nil,
		methods:  id.Methods,
		auditID:  base64.RawURLEncoding.EncodeToString([]byte(newHexID()[:16])),
		issuedAt: now,
		expires:  now.Add(tokenLifetime),
	}
	for k, t := range s.tokens {
		if !now.Before(t.expires) {
			delete(s.tokens, k)
		}
	}
	s.tokens[tok.id] = tok
	w.Header().Set("X-Subject-Token", tok.id)
	writeJSON(w, http.StatusCreated, s.tokenBody(tok, r.baseURL()))
}

// authenticated checks the identity methods. Every listed method must
// succeed, as in Keystone.
func (s *Simulator) authenticated(methods []string, req authRequest, now time.Time) bool {
	id := req.Auth.Identity
	for _, m := range methods {
		switch m {
		case "password":
			if id.Password == nil || id.Password.User == nil {
				return false
			}
			u := id.Password.User
			switch {
			case u.ID != "":
				if u.ID != s.userID {
					return false
				}
			case u.Name != "":
				if u.Name != s.opts.User || !domainMatches(u.Domain) {
					return false
				}
			default:
				return false
			}
			if u.Password != s.opts.Password {
				return false
			}
		case "token":
			if id.Token == nil {
				return false
			}
			t, ok := s.tokens[id.Token.ID]
			if !ok || !now.Before(t.expires) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func domainMatches(d *idName) bool {
	if d == nil {
		return false
	}
	if d.ID != "" {
		return d.ID == domainID
	}
	return d.Name == domainName
}

// scopeAllowed accepts no scope or the one project. Keystone answers a
// project it cannot find, or a domain or system scope the user holds no
// role on, with a plain 401.
func (s *Simulator) scopeAllowed(sc authScope) bool {
	if sc.Domain != nil || len(sc.System) > 0 {
		return false
	}
	p := sc.Project
	if p == nil {
		return true
	}
	if p.ID != "" {
		return p.ID == s.projectID
	}
	return p.Name == s.opts.Project && domainMatches(p.Domain)
}

func newTokenID() string {
	b := make([]byte, 120)
	_, _ = rand.Read(b)
	return "gAAAAAB" + base64.RawURLEncoding.EncodeToString(b)
}

func (s *Simulator) tokenBody(t *token, base string) map[string]any {
	domain := map[string]any{"id": domainID, "name": domainName}
	tok := map[string]any{
		"methods":    t.methods,
		"user":       map[string]any{"domain": domain, "id": s.userID, "name": s.opts.User, "password_expires_at": nil},
		"audit_ids":  []string{t.auditID},
		"expires_at": t.expires.UTC().Format(isoMicrosZ),
		"issued_at":  t.issuedAt.UTC().Format(isoMicrosZ),
	}
	if t.scoped {
		tok["project"] = map[string]any{"domain": domain, "id": s.projectID, "name": s.opts.Project}
		tok["is_domain"] = false
		roles := make([]any, 0, len(s.roles))
		for _, r := range s.roles {
			roles = append(roles, map[string]any{"id": r.id, "name": r.name})
		}
		tok["roles"] = roles
		tok["catalog"] = s.catalog(base)
	}
	return map[string]any{"token": tok}
}

// catalog lists every service with a public, an internal and an admin
// endpoint in RegionOne, all on the address the caller used.
func (s *Simulator) catalog(base string) []any {
	out := make([]any, 0, len(s.services))
	for _, svc := range s.services {
		eps := make([]any, 0, 3)
		for i, iface := range []string{"public", "internal", "admin"} {
			eps = append(eps, map[string]any{
				"id": svc.endpointIDs[i], "interface": iface,
				"region": regionName, "region_id": regionName,
				"url": base + svc.path,
			})
		}
		out = append(out, map[string]any{"endpoints": eps, "id": svc.id, "type": svc.typ, "name": svc.name})
	}
	return out
}

// validToken returns the unexpired token with this id. Tokens without a
// project scope are good for Keystone calls only.
func (s *Simulator) validToken(id string) (*token, bool) {
	if id == "" {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[id]
	if !ok || !s.now().Before(t.expires) {
		return nil, false
	}
	return t, true
}

// subjectToken finds the token named by X-Subject-Token, answering 404 as
// Keystone does when it is unknown or expired.
func (s *Simulator) subjectToken(w http.ResponseWriter, r *request) (*token, bool) {
	id := r.Header.Get("X-Subject-Token")
	t, ok := s.validToken(id)
	if !ok {
		writeError(w, identitySvc, notFound("Could not find token: "+id+"."))
		return nil, false
	}
	return t, true
}

func (s *Simulator) checkToken(w http.ResponseWriter, r *request) {
	if t, ok := s.subjectToken(w, r); ok {
		w.Header().Set("X-Subject-Token", t.id)
		w.WriteHeader(http.StatusOK)
	}
}

func (s *Simulator) showToken(w http.ResponseWriter, r *request) {
	t, ok := s.subjectToken(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	body := s.tokenBody(t, r.baseURL())
	s.mu.Unlock()
	w.Header().Set("X-Subject-Token", t.id)
	writeJSON(w, http.StatusOK, body)
}

func (s *Simulator) revokeToken(w http.ResponseWriter, r *request) {
	t, ok := s.subjectToken(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.tokens, t.id)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
