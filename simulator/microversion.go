package simulator

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// microversion is a Nova API microversion 2.N. Clients that send no
// version header, gophercloud's default, get 2.1.
type microversion struct{ minor int }

// Nova 26 (Zed) supports microversions 2.1 to 2.93.
var (
	minMicroversion = microversion{1}
	maxMicroversion = microversion{93}
)

func (v microversion) String() string { return "2." + strconv.Itoa(v.minor) }

// atLeast reports whether v is 2.minor or later.
func (v microversion) atLeast(minor int) bool { return v.minor >= minor }

// requestedMicroversion reads the version from OpenStack-API-Version
// ("compute 2.47") or, failing that, the legacy X-OpenStack-Nova-API-Version
// ("2.47"), answering with Nova's errors for a malformed or unsupported one.
func requestedMicroversion(r *http.Request) (microversion, *apiError) {
	raw := ""
	for _, h := range r.Header.Values("OpenStack-API-Version") {
		for _, part := range strings.Split(h, ",") {
			f := strings.Fields(part)
			if len(f) == 2 && strings.EqualFold(f[0], "compute") {
				raw = f[1]
			}
		}
	}
	if raw == "" {
		raw = strings.TrimSpace(r.Header.Get("X-OpenStack-Nova-API-Version"))
	}
	if raw == "" {
		return minMicroversion, nil
	}
	if strings.EqualFold(raw, "latest") {
		return maxMicroversion, nil
	}
	major, minor, ok := strings.Cut(raw, ".")
	maj, err1 := strconv.Atoi(major)
	mnr, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || maj < 0 || mnr < 0 {
		return minMicroversion, badRequest(fmt.Sprintf(
			"API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", raw))
	}
	if maj != 2 || mnr < minMicroversion.minor || mnr > maxMicroversion.minor {
		return minMicroversion, &apiError{status: http.StatusNotAcceptable, msg: fmt.Sprintf(
			"Version %s is not supported by the API. Minimum is %s and maximum is %s.",
			raw, minMicroversion, maxMicroversion)}
	}
	return microversion{mnr}, nil
}

// setComputeVersionHeaders sets the headers Nova puts on every answer of
// the v2.1 API, unless a handler already did.
func setComputeVersionHeaders(w http.ResponseWriter, v microversion) {
	h := w.Header()
	if h.Get("OpenStack-API-Version") != "" {
		return
	}
	h.Set("OpenStack-API-Version", "compute "+v.String())
	h.Set("X-OpenStack-Nova-API-Version", v.String())
	h.Set("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
	id := "req-" + newUUID()
	h.Set("X-Compute-Request-Id", id)
	h.Set("X-OpenStack-Request-Id", id)
}

// novaHandler is a Nova handler that knows the request's microversion.
type novaHandler func(w http.ResponseWriter, r *request, v microversion)

// nova wraps h with microversion negotiation and Nova's response headers.
func nova(h novaHandler) func(http.ResponseWriter, *request) {
	return func(w http.ResponseWriter, r *request) {
		v, apiErr := requestedMicroversion(r.Request)
		if apiErr != nil {
			writeError(w, computeSvc, apiErr)
			return
		}
		setComputeVersionHeaders(w, v)
		h(w, r, v)
	}
}
