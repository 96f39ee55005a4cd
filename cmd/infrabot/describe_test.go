package main

import (
	"slices"
	"testing"

	"github.com/infrabot/infrabot/config"
)

// A reload that reorders the CI sources and changes one of them says ci
// changed: the names compared are the same set, in whatever order.
func TestDescribeSeesAChangedSourceAmongReorderedOnes(t *testing.T) {
	old := &config.Config{CI: []config.CISource{{Name: "rdo", URL: "https://zuul.a"}, {Name: "jenkins", URL: "https://ci.b"}}}
	cfg := &config.Config{CI: []config.CISource{{Name: "jenkins", URL: "https://ci.b"}, {Name: "rdo", URL: "https://zuul.rotated"}}}
	changes, _ := describe(old, cfg)
	if !slices.Contains(changes, "ci") {
		t.Errorf("changes %q: want ci", changes)
	}
	cfg.CI = append(cfg.CI, config.CISource{Name: "new"})
	if changes, _ := describe(old, cfg); !slices.Contains(changes, "ci +new") {
		t.Errorf("changes %q: want ci +new", changes)
	}
}
