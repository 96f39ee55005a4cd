package simulator

import (
	"net/http"
	"strings"
)

// service names the OpenStack service a path belongs to; it decides the
// shape of error bodies.
type service int

const (
	identitySvc service = iota
	computeSvc
	imageSvc
	networkSvc
)

// Path prefixes of the services in the catalog. Keystone sits at the root,
// so the auth URL is URL()+"/v3".
const (
	computePrefix = "/compute"
	imagePrefix   = "/image"
	networkPrefix = "/network"
)

func serviceOf(path string) service {
	switch {
	case hasPathPrefix(path, computePrefix):
		return computeSvc
	case hasPathPrefix(path, imagePrefix):
		return imageSvc
	case hasPathPrefix(path, networkPrefix):
		return networkSvc
	}
	return identitySvc
}

func hasPathPrefix(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// route is one method and path pattern. A pattern segment written {name}
// matches any one segment and is available as a parameter.
type route struct {
	method  string
	pattern []string
	auth    bool
	handle  func(http.ResponseWriter, *request)
}

func (s *Simulator) buildRoutes() []route {
	var rs []route
	add := func(method, pattern string, auth bool, h func(http.ResponseWriter, *request)) {
		rs = append(rs, route{method: method, pattern: splitPath(pattern), auth: auth, handle: h})
	}
	s.identityRoutes(add)
	s.computeRoutes(add)
	s.imageRoutes(add)
	s.networkRoutes(add)
	return rs
}

type addRoute func(method, pattern string, auth bool, h func(http.ResponseWriter, *request))

// match finds the route for method and path. The first route whose pattern
// and method both match wins, so literal routes are listed before wildcard
// ones. status is 404 when no pattern matches and 405 when only the method
// does not.
func (s *Simulator) match(method, path string) (route, map[string]string, int) {
	segs := splitPath(path)
	status := http.StatusNotFound
	for _, rt := range s.routes {
		params, ok := matchPattern(rt.pattern, segs)
		if !ok {
			continue
		}
		if rt.method == method || (method == http.MethodHead && rt.method == http.MethodGet) {
			return rt, params, 0
		}
		status = http.StatusMethodNotAllowed
	}
	return route{}, nil, status
}

func matchPattern(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var params map[string]string
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// splitPath splits a URL path into segments, ignoring a trailing slash the
// way the real services' routers do.
func splitPath(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}
