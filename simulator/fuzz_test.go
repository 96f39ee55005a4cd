package simulator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/simulator"
)

// FuzzCreateServer throws request bodies at POST /servers. Whatever comes
// in, the simulator must answer with a Nova status and a JSON body of the
// right shape, and a server it accepted must be readable. In a body,
// $IMAGE, $NET and $FLAVOR stand for ids of the seeded cirros image,
// private network and m1.tiny flavor, so that mutations of valid bodies
// get past the lookups. The seed corpus is in testdata/fuzz/FuzzCreateServer.
func FuzzCreateServer(f *testing.F) {
	f.Add([]byte(`{"server": {"name": "a", "flavorRef": "$FLAVOR", "imageRef": "$IMAGE", "networks": [{"uuid": "$NET"}]}}`), uint8(0))
	f.Add([]byte(`{"server": {"name": "b", "flavorRef": 1, "imageRef": "$IMAGE", "networks": "none"}}`), uint8(36))
	f.Add([]byte(`[]`), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, mv uint8) {
		sim := simulator.New(simulator.Options{})
		token, ids := fuzzLogin(t, sim)
		for k, v := range ids {
			body = bytes.ReplaceAll(body, []byte(k), []byte(v))
		}
		version := fmt.Sprintf("2.%d", 1+int(mv)%93)
		status, out := serve(sim, "POST", "/compute/v2.1/servers", token, body, version)
		switch status {
		case http.StatusAccepted:
			id := field(t, out, "server", "id").(string)
			if st, got := serve(sim, "GET", "/compute/v2.1/servers/"+id, token, nil, version); st != http.StatusOK || got["server"] == nil {
				t.Fatalf("accepted server %s cannot be read: %d %v", id, st, got)
			}
		case http.StatusBadRequest, http.StatusForbidden, http.StatusConflict:
			if len(out) != 1 {
				t.Fatalf("error body %v has %d members, want 1", out, len(out))
			}
			for _, v := range out {
				fault, ok := v.(map[string]any)
				if !ok || fault["code"] != float64(status) {
					t.Fatalf("error body %v does not carry code %d", out, status)
				}
				if msg, _ := fault["message"].(string); msg == "" {
					t.Fatalf("error body %v has no message", out)
				}
			}
		default:
			t.Fatalf("status %d for body %q: %v", status, body, out)
		}
	})
}

// fuzzLogin gets a token and the ids the fuzz bodies refer to, straight
// through ServeHTTP.
func fuzzLogin(t *testing.T, sim *simulator.Simulator) (string, map[string]string) {
	t.Helper()
	auth := `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "admin", "domain": {"id": "default"}}}}, "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}`
	req := httptest.NewRequest("POST", "/v3/auth/tokens", strings.NewReader(auth))
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	token := rec.Header().Get("X-Subject-Token")
	if rec.Code != http.StatusCreated || token == "" {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	ids := map[string]string{"$FLAVOR": "1"}
	_, imgs := serve(sim, "GET", "/image/v2/images?name=cirros-0.6", token, nil, "")
	ids["$IMAGE"] = imgs["images"].([]any)[0].(map[string]any)["id"].(string)
	_, nets := serve(sim, "GET", "/network/v2.0/networks?name=private", token, nil, "")
	ids["$NET"] = nets["networks"].([]any)[0].(map[string]any)["id"].(string)
	return token, ids
}

func serve(sim *simulator.Simulator, method, path, token string, body []byte, version string) (int, map[string]any) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("X-Auth-Token", token)
	if version != "" {
		req.Header.Set("OpenStack-API-Version", "compute "+version)
	}
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		return -1, map[string]any{"unparsable": rec.Body.String()}
	}
	return rec.Code, out
}
