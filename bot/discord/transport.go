package discord

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// redirect returns a copy of c whose requests to Discord's API
// (https://discord.com/api/…, where discordgo's endpoint strings point)
// go to apiURL instead, keeping the path below /api/.
func redirect(c *http.Client, apiURL string) (*http.Client, error) {
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("discord: api_url %q is not an http(s) URL", apiURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cc := *c
	cc.Transport = &rewrite{to: u, next: next}
	return &cc, nil
}

// rewrite is the transport behind redirect.
type rewrite struct {
	to   *url.URL
	next http.RoundTripper
}

func (r *rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	rest, ok := strings.CutPrefix(req.URL.Path, "/api/")
	if !ok {
		resp, err := r.next.RoundTrip(req)
		return noteLimit(req, resp, err)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = r.to.Scheme, r.to.Host
	out.URL.Path = r.to.Path + rest
	out.URL.RawPath = ""
	if req.URL.RawPath != "" {
		raw, _ := strings.CutPrefix(req.URL.RawPath, "/api/")
		out.URL.RawPath = r.to.EscapedPath() + raw
	}
	out.Host = r.to.Host
	resp, err := r.next.RoundTrip(out)
	return noteLimit(req, resp, err)
}

// limitKey marks a call's context with the limitNote its answer fills.
type limitKey struct{}

// limitNote says whether a call was answered with a global 429, which
// discordgo's error does not tell.
type limitNote struct{ global atomic.Bool }

// noteLimit records, in the note of the request's context, whether a 429
// is global: X-RateLimit-Global, X-RateLimit-Scope: global, or "global":
// true in the body (which is put back for discordgo to read).
func noteLimit(req *http.Request, resp *http.Response, err error) (*http.Response, error) {
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		return resp, err
	}
	note, _ := req.Context().Value(limitKey{}).(*limitNote)
	if note == nil {
		return resp, err
	}
	global := resp.Header.Get("X-RateLimit-Global") != "" || strings.EqualFold(resp.Header.Get("X-RateLimit-Scope"), "global")
	if !global && resp.Body != nil {
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		var body struct {
			Global bool `json:"global"`
		}
		global = rerr == nil && json.Unmarshal(b, &body) == nil && body.Global
	}
	note.global.Store(global)
	return resp, err
}
