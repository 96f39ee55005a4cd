package simulator

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// apiError is an error answer. Its body is shaped like the real service's
// errors (see writeError); neutronType is the exception name Neutron puts
// in its "type" field.
type apiError struct {
	status      int
	msg         string
	neutronType string
}

func badRequest(msg string) *apiError { return &apiError{status: http.StatusBadRequest, msg: msg} }
func notFound(msg string) *apiError   { return &apiError{status: http.StatusNotFound, msg: msg} }

// novaFaultNames is Nova's table of fault element names by status
// (nova/api/openstack/wsgi.py, Fault._fault_names); anything else is a
// "computeFault".
var novaFaultNames = map[int]string{
	400: "badRequest",
	401: "unauthorized",
	403: "forbidden",
	404: "itemNotFound",
	405: "badMethod",
	409: "conflictingRequest",
	413: "overLimit",
	415: "badMediaType",
	429: "overLimit",
	501: "notImplemented",
	503: "serviceUnavailable",
}

// webobExplanations are the default explanations of webob's HTTP
// exceptions, which is what the Python services say when nothing more
// specific is known.
var webobExplanations = map[int]string{
	400: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
	403: "Access was denied to this resource.",
	404: "The resource could not be found.",
	405: "The method specified is not allowed for this resource.",
	409: "There was a conflict when trying to complete your request.",
	413: "The request is larger than the server is willing or able to process.",
	429: "Too many requests.",
	500: "The server has either erred or is incapable of performing the requested operation.",
	502: "Bad gateway.",
	503: "The server is currently unavailable. Please try again at a later time.",
	504: "The gateway has timed out.",
}

func explanation(status int) string {
	if e, ok := webobExplanations[status]; ok {
		return e
	}
	return http.StatusText(status)
}

// neutronTypes names the webob exception Neutron reports for a bare status.
var neutronTypes = map[int]string{
	400: "HTTPBadRequest",
	403: "HTTPForbidden",
	404: "HTTPNotFound",
	405: "HTTPMethodNotAllowed",
	409: "HTTPConflict",
	500: "HTTPInternalServerError",
	502: "HTTPBadGateway",
	503: "HTTPServiceUnavailable",
	504: "HTTPGatewayTimeout",
}

// writeError writes e in the error shape of svc:
//
//	Keystone: {"error": {"code": 401, "message": "…", "title": "Unauthorized"}}
//	Nova:     {"itemNotFound": {"code": 404, "message": "…"}}
//	Glance:   {"code": "404 Not Found", "message": "…", "title": "Not Found"}  (webob's JSON body)
//	Neutron:  {"NeutronError": {"type": "NetworkNotFound", "message": "…", "detail": ""}}
func writeError(w http.ResponseWriter, svc service, e *apiError) {
	var body any
	switch svc {
	case identitySvc:
		body = map[string]any{"error": map[string]any{
			"code": e.status, "message": e.msg, "title": http.StatusText(e.status),
		}}
	case computeSvc:
		name, ok := novaFaultNames[e.status]
		if !ok {
			name = "computeFault"
		}
		body = map[string]any{name: map[string]any{"code": e.status, "message": e.msg}}
	case imageSvc:
		// webob renders the explanation through its HTML body template
		// even in JSON, which is why real Glance errors carry "<br />".
		body = map[string]any{
			"code":    strconv.Itoa(e.status) + " " + http.StatusText(e.status),
			"message": e.msg + "<br /><br />\n\n\n",
			"title":   http.StatusText(e.status),
		}
	case networkSvc:
		typ := e.neutronType
		if typ == "" {
			typ = neutronTypes[e.status]
		}
		if typ == "" {
			typ = "HTTPError"
		}
		body = map[string]any{"NeutronError": map[string]any{"type": typ, "message": e.msg, "detail": ""}}
	}
	if svc == computeSvc {
		setComputeVersionHeaders(w, minMicroversion)
	}
	writeJSON(w, e.status, body)
}

// unauthorizedMessage is what keystonemiddleware (in front of every
// service) and Keystone itself say for a missing, bad or expired token or
// bad credentials.
const unauthorizedMessage = "The request you have made requires authentication."

// writeUnauthorized answers 401 as keystonemiddleware and Keystone do: the
// Keystone error body and a WWW-Authenticate header naming the identity
// service.
func writeUnauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Keystone uri="`+requestBase(r)+`/v3"`)
	writeError(w, identitySvc, &apiError{status: http.StatusUnauthorized, msg: unauthorizedMessage})
}

func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every body is built from maps and strings; this is a bug.
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
