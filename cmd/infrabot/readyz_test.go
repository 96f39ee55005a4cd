package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/actions/actionstest"
	"github.com/infrabot/infrabot/cmd/infrabot/admin"
	"github.com/infrabot/infrabot/cmd/infrabot/admin/admintest"
)

// TestReadyzNamesAClosedStore: with the store closed under it, /readyz
// answers 503 and names the store as closed, and infrabot_ready{store}
// falls to 0; while it was open the same part said so.
func TestReadyzNamesAClosedStore(t *testing.T) {
	t.Parallel()
	f := newOneAdminFile(t)
	f.write(`admin: {listen: "127.0.0.1:0"}
`)
	var logs actionstest.Buffer
	app := f.open(&logs)
	adm, err := serveAdmin(app)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- adm.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + adm.Addr()

	readyz := func() (int, admin.PartState) {
		t.Helper()
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var rd admin.Readiness
		if err := json.Unmarshal(body, &rd); err != nil {
			t.Fatalf("/readyz is not JSON: %s", body)
		}
		for _, p := range rd.Parts {
			if p.Name == "store" {
				return resp.StatusCode, p
			}
		}
		t.Fatalf("/readyz does not name the store: %s", body)
		return 0, admin.PartState{}
	}

	if _, store := readyz(); !store.OK || !strings.HasPrefix(store.State, "open, ") {
		t.Fatalf("the open store: %+v, want ok and open", store)
	}
	if v, ok := admintest.Scrape(t, base+"/metrics").Value("infrabot_ready", "part=store"); !ok || v != 1 {
		t.Errorf("infrabot_ready{store} = %v (found %v) while open, want 1", v, ok)
	}

	if err := app.DB.Close(); err != nil {
		t.Fatal(err)
	}
	code, store := readyz()
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the store closed: %d, want 503", code)
	}
	if store.OK || store.State != "closed" {
		t.Errorf("the closed store: %+v, want not ok and closed", store)
	}
	if v, ok := admintest.Scrape(t, base+"/metrics").Value("infrabot_ready", "part=store"); !ok || v != 0 {
		t.Errorf("infrabot_ready{store} = %v (found %v) once closed, want 0", v, ok)
	}
}
