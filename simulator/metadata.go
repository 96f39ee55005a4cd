package simulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// changeable answers 409 as Nova does when the server's state forbids
// metadata changes: only a settled ACTIVE server takes them.
func (s *Simulator) changeable(w http.ResponseWriter, sv *server, now time.Time, action string) bool {
	p := s.phaseOf(sv, now)
	attr, state := "", ""
	switch {
	case p.vmState != "active":
		attr, state = "vm_state", p.vmState
	case p.taskState != nil:
		attr, state = "task_state", fmt.Sprint(p.taskState)
	default:
		return true
	}
	writeError(w, computeSvc, &apiError{status: http.StatusConflict, msg: fmt.Sprintf(
		"Cannot '%s' instance %s while it is in %s %s", action, sv.id, attr, state)})
	return false
}

func (s *Simulator) listMetadata(w http.ResponseWriter, r *request, _ microversion) {
	s.lockState()
	defer s.mu.Unlock()
	if sv := s.targetServer(w, r); sv != nil {
		writeJSON(w, http.StatusOK, map[string]any{"metadata": copyMap(sv.metadata)})
	}
}

// readMetadataBody decodes {"<envelope>": {...}} and checks the object as
// Nova's metadata schema does.
func readMetadataBody(r *request, envelope string) (map[string]string, *apiError) {
	body, ok := readBody(r)
	var doc map[string]any
	if !ok || json.Unmarshal(body, &doc) != nil {
		return nil, badRequest("Malformed request body")
	}
	raw, ok := doc[envelope]
	if !ok {
		return nil, schemaError("", doc, fmt.Sprintf("'%s' is a required property", envelope))
	}
	return parseMetadata(raw)
}

func (s *Simulator) replaceMetadata(w http.ResponseWriter, r *request, _ microversion) {
	s.updateMetadata(w, r, true)
}

func (s *Simulator) mergeMetadata(w http.ResponseWriter, r *request, _ microversion) {
	s.updateMetadata(w, r, false)
}

// updateMetadata serves PUT (replace all) and POST (merge) on
// /servers/{id}/metadata; both answer with the resulting metadata.
func (s *Simulator) updateMetadata(w http.ResponseWriter, r *request, replace bool) {
	md, apiErr := readMetadataBody(r, "metadata")
	if apiErr != nil {
		writeError(w, computeSvc, apiErr)
		return
	}
	now := s.lockState()
	defer s.mu.Unlock()
	sv := s.targetServer(w, r)
	if sv == nil || !s.changeable(w, sv, now, "update metadata") {
		return
	}
	next := md
	if !replace {
		next = copyMap(sv.metadata)
		for k, v := range md {
			next[k] = v
		}
	}
	if len(next) > maxMetadataItems {
		writeError(w, computeSvc, tooManyMetadataItems())
		return
	}
	sv.metadata = next
	sv.modified = now
	writeJSON(w, http.StatusOK, map[string]any{"metadata": copyMap(next)})
}

func (s *Simulator) showMetadataItem(w http.ResponseWriter, r *request, _ microversion) {
	s.lockState()
	defer s.mu.Unlock()
	sv := s.targetServer(w, r)
	if sv == nil {
		return
	}
	v, ok := sv.metadata[r.param("key")]
	if !ok {
		writeError(w, computeSvc, notFound("Metadata item was not found"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{r.param("key"): v}})
}

func (s *Simulator) setMetadataItem(w http.ResponseWriter, r *request, _ microversion) {
	md, apiErr := readMetadataBody(r, "meta")
	if apiErr != nil {
		writeError(w, computeSvc, apiErr)
		return
	}
	if len(md) != 1 {
		writeError(w, computeSvc, badRequest("Request body contains too many items"))
		return
	}
	key := r.param("key")
	v, ok := md[key]
	if !ok {
		writeError(w, computeSvc, badRequest("Request body and URI mismatch"))
		return
	}
	now := s.lockState()
	defer s.mu.Unlock()
	sv := s.targetServer(w, r)
	if sv == nil || !s.changeable(w, sv, now, "update metadata") {
		return
	}
	if _, exists := sv.metadata[key]; !exists && len(sv.metadata) >= maxMetadataItems {
		writeError(w, computeSvc, tooManyMetadataItems())
		return
	}
	next := copyMap(sv.metadata)
	next[key] = v
	sv.metadata = next
	sv.modified = now
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
}

func (s *Simulator) deleteMetadataItem(w http.ResponseWriter, r *request, _ microversion) {
	now := s.lockState()
	defer s.mu.Unlock()
	sv := s.targetServer(w, r)
	if sv == nil {
		return
	}
	key := r.param("key")
	if _, ok := sv.metadata[key]; !ok {
		writeError(w, computeSvc, notFound("Metadata item was not found"))
		return
	}
	if !s.changeable(w, sv, now, "delete metadata") {
		return
	}
	next := copyMap(sv.metadata)
	delete(next, key)
	sv.metadata = next
	sv.modified = now
	w.WriteHeader(http.StatusNoContent)
}
