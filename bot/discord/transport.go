package discord

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
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
		return r.next.RoundTrip(req)
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
	return r.next.RoundTrip(out)
}
