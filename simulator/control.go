package simulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// faultRequest is the JSON form of a Fault for POST /_sim/faults. Delay is
// a Go duration string ("250ms", "2s"); delay_ms is the same in
// milliseconds.
type faultRequest struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Status  int    `json:"status"`
	Delay   string `json:"delay"`
	DelayMS int    `json:"delay_ms"`
	Times   int    `json:"times"`
}

// serveControl serves the /_sim control API, the HTTP twin of Inject,
// ClearFaults, StickInBuild, FailBuild and SetInstanceQuota. It needs no
// token and is never subject to injected faults.
func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_sim", "GET /_sim/":
		writeJSON(w, http.StatusOK, map[string]any{"endpoints": []string{
			"GET /_sim/faults", "POST /_sim/faults", "DELETE /_sim/faults",
			"POST /_sim/stick", "POST /_sim/fail-build", "POST /_sim/quota",
		}})
	case "GET /_sim/faults":
		writeJSON(w, http.StatusOK, s.controlState())
	case "POST /_sim/faults":
		var fr faultRequest
		if !decodeControl(w, r, &fr) {
			return
		}
		f, err := fr.fault()
		if err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.Inject(f)
		writeJSON(w, http.StatusCreated, fr)
	case "DELETE /_sim/faults":
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case "POST /_sim/stick":
		var body struct {
			Prefix *string `json:"prefix"`
		}
		if !decodeControl(w, r, &body) {
			return
		}
		if body.Prefix == nil {
			controlError(w, http.StatusBadRequest, `"prefix" is required`)
			return
		}
		s.StickInBuild(*body.Prefix)
		w.WriteHeader(http.StatusNoContent)
	case "POST /_sim/fail-build":
		var body struct {
			Prefix  *string `json:"prefix"`
			Message string  `json:"message"`
		}
		if !decodeControl(w, r, &body) {
			return
		}
		if body.Prefix == nil || body.Message == "" {
			controlError(w, http.StatusBadRequest, `"prefix" and "message" are required`)
			return
		}
		s.FailBuild(*body.Prefix, body.Message)
		w.WriteHeader(http.StatusNoContent)
	case "POST /_sim/quota", "PUT /_sim/quota":
		var body struct {
			Instances *int `json:"instances"`
		}
		if !decodeControl(w, r, &body) {
			return
		}
		if body.Instances == nil {
			controlError(w, http.StatusBadRequest, `"instances" is required`)
			return
		}
		s.SetInstanceQuota(*body.Instances)
		w.WriteHeader(http.StatusNoContent)
	default:
		controlError(w, http.StatusNotFound, "no control endpoint "+route+"; GET /_sim lists them")
	}
}

func (fr faultRequest) fault() (Fault, error) {
	f := Fault{Method: fr.Method, Path: fr.Path, Status: fr.Status, Times: fr.Times,
		Delay: time.Duration(fr.DelayMS) * time.Millisecond}
	if fr.Delay != "" {
		d, err := time.ParseDuration(fr.Delay)
		if err != nil {
			return Fault{}, fmt.Errorf("delay %q is not a duration such as \"250ms\" or \"2s\"", fr.Delay)
		}
		f.Delay = d
	}
	switch {
	case f.Path == "" || f.Path[0] != '/':
		return Fault{}, fmt.Errorf(`"path" must be a URL path prefix starting with "/", such as "/compute/v2.1/servers"`)
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		return Fault{}, fmt.Errorf(`"status" must be 0 (delay only) or an error status from 400 to 599`)
	case f.Status == 0 && f.Delay <= 0:
		return Fault{}, fmt.Errorf(`a fault needs a "status" or a "delay"`)
	case f.Delay < 0 || f.Times < 0:
		return Fault{}, fmt.Errorf(`"delay" and "times" cannot be negative`)
	}
	return f, nil
}

func (s *Simulator) controlState() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	faults := []any{}
	for _, f := range s.controls.faults {
		faults = append(faults, map[string]any{
			"method": f.Method, "path": f.Path, "status": f.Status,
			"delay": f.Delay.String(), "times_left": f.left,
		})
	}
	fail := []any{}
	for _, r := range s.controls.fail {
		fail = append(fail, map[string]any{"prefix": r.prefix, "message": r.message})
	}
	return map[string]any{
		"faults":         faults,
		"stick":          append([]string{}, s.controls.stick...),
		"fail_build":     fail,
		"instance_quota": s.instanceQuota,
	}
}

func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		controlError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	return true
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg})
}
