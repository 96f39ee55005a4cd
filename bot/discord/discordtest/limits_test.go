package discordtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/infrabot/infrabot/bot/discord/discordtest"
)

func TestCheckMessageKnowsDiscordsLimits(t *testing.T) {
	t.Parallel()
	embed := func(title, desc, footer string, fields int, value string) map[string]any {
		var fs []any
		for range fields {
			fs = append(fs, map[string]any{"name": "n", "value": value})
		}
		return map[string]any{"title": title, "description": desc, "footer": map[string]any{"text": footer}, "fields": fs}
	}
	body := func(content string, embeds ...any) map[string]any {
		return map[string]any{"content": content, "embeds": embeds}
	}
	row := func(n int, label, id string) map[string]any {
		var bs []any
		for range n {
			bs = append(bs, map[string]any{"type": 2, "label": label, "custom_id": id})
		}
		return map[string]any{"type": 1, "components": bs}
	}
	r := strings.Repeat
	mentioning := func(n int) map[string]any {
		users := make([]any, n)
		for i := range users {
			users[i] = fmt.Sprintf("4%017d", i)
		}
		return map[string]any{"content": "", "allowed_mentions": map[string]any{"parse": []any{}, "users": users}}
	}
	tests := []struct {
		name string
		body map[string]any
		ok   bool
	}{
		{"at every limit", map[string]any{"content": r("é", 2000),
			"embeds":     []any{embed(r("t", 256), r("é", 4096), r("f", 1000), 25, r("v", 24))},
			"components": []any{row(5, r("l", 80), r("c", 100)), row(1, "l", "c"), row(1, "l", "c"), row(1, "l", "c"), row(1, "l", "c")}}, true},
		{"content of 2001", body(r("c", 2001)), false},
		{"100 users mentioned", mentioning(100), true},
		{"101 users mentioned", mentioning(101), false},
		{"a user name in allowed_mentions", map[string]any{"allowed_mentions": map[string]any{"users": []any{"401000000000000001", "bob#1234"}}}, false},
		{"title of 257", body("", embed(r("t", 257), "", "", 0, "")), false},
		{"description of 4097", body("", embed("", r("d", 4097), "", 0, "")), false},
		{"26 fields", body("", embed("", "", "", 26, "v")), false},
		{"field value of 1025", body("", embed("", "", "", 1, r("v", 1025))), false},
		{"footer of 2049", body("", embed("", "", r("f", 2049), 0, "")), false},
		{"6001 in all", body("", embed(r("t", 200), r("d", 4000), r("f", 1801), 0, "")), false},
		{"6001 over two embeds", body("", embed("", r("d", 3000), "", 0, ""), embed("", r("d", 3001), "", 0, "")), false},
		{"11 embeds", body("", embed("t", "", "", 0, ""), embed("t", "", "", 0, ""), embed("t", "", "", 0, ""), embed("t", "", "", 0, ""),
			embed("t", "", "", 0, ""), embed("t", "", "", 0, ""), embed("t", "", "", 0, ""), embed("t", "", "", 0, ""),
			embed("t", "", "", 0, ""), embed("t", "", "", 0, ""), embed("t", "", "", 0, "")), false},
		{"6 buttons in a row", map[string]any{"components": []any{row(6, "l", "c")}}, false},
		{"label of 81", map[string]any{"components": []any{row(1, r("l", 81), "c")}}, false},
		{"custom_id of 101", map[string]any{"components": []any{row(1, "l", r("c", 101))}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := discordtest.CheckMessage(tc.body); (err == nil) != tc.ok {
				t.Errorf("CheckMessage = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// The fake refuses a message over Discord's limits as Discord does (400,
// code 50035), and keeps nothing of it.
func TestFakeRefusesMessagesOverLimits(t *testing.T) {
	t.Parallel()
	s := discordtest.NewServer(t, "bot-token", "app", nil)
	post := func(body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"v10/channels/C1/messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bot bot-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, out := post(`{"embeds":[{"description":"` + strings.Repeat("d", 4097) + `"}]}`)
	if status != http.StatusBadRequest || out["code"] != float64(50035) {
		t.Errorf("a description of 4097 characters: %d %v", status, out)
	}
	if got := s.Messages("C1"); len(got) != 0 {
		t.Errorf("the refused message was kept: %+v", got)
	}
	users := strings.Repeat(`"401000000000000001",`, 101)
	if status, out := post(`{"content":"<@401000000000000001>","allowed_mentions":{"parse":[],"users":[` + users[:len(users)-1] + `]}}`); status != http.StatusBadRequest || out["code"] != float64(50035) {
		t.Errorf("101 users in allowed_mentions: %d %v", status, out)
	}
	if status, out := post(`{"embeds":[{"description":"fine"}]}`); status != http.StatusOK {
		t.Errorf("a message within the limits: %d %v", status, out)
	}
}
