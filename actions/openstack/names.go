package openstack

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/infrabot/infrabot/actions"
)

// resolver turns the flavor, image and network names people write in
// config into OpenStack IDs, and flavor IDs back into names. Answers are
// cached for the life of the Cloud (names of flavors, images and networks
// rarely move); a name not found is asked again next time. Each kind has
// its own lock, held while asking OpenStack, so ten parallel creates cost
// one lookup.
type resolver struct {
	c *Cloud

	flavorMu       sync.Mutex
	flavorByName   map[string][]string // name → IDs (names need not be unique)
	flavorByID     map[string]string   // ID → name
	flavorsFetched time.Time

	imageMu sync.Mutex
	images  map[string]string

	networkMu sync.Mutex
	networks  map[string]string
}

var uuidLike = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// flavorID returns the ID of the flavor called name (or with ID name).
func (r *resolver) flavorID(ctx context.Context, name string) (string, error) {
	r.flavorMu.Lock()
	defer r.flavorMu.Unlock()
	if ids, ok := r.flavorByName[name]; ok && len(ids) == 1 {
		return ids[0], nil
	}
	if err := r.fetchFlavors(ctx); err != nil {
		return "", err
	}
	switch ids := r.flavorByName[name]; {
	case len(ids) == 1:
		return ids[0], nil
	case len(ids) > 1:
		return "", actions.Errorf(actions.Invalid, "flavor name %q is ambiguous (%d flavors have it); use its ID", name, len(ids))
	}
	if _, ok := r.flavorByID[name]; ok {
		return name, nil
	}
	known := make([]string, 0, len(r.flavorByName))
	for n := range r.flavorByName {
		known = append(known, n)
	}
	sort.Strings(known)
	if len(known) > 12 {
		known = append(known[:12], "…")
	}
	return "", actions.Errorf(actions.Invalid, "unknown flavor %q (this cloud has: %s)", name, strings.Join(known, ", "))
}

// flavorName returns the name of the flavor with ID id, or id itself when
// the flavor cannot be listed (deleted, private, or the lookup failed).
func (r *resolver) flavorName(ctx context.Context, id string) string {
	r.flavorMu.Lock()
	defer r.flavorMu.Unlock()
	if name, ok := r.flavorByID[id]; ok {
		return name
	}
	// a flavor unknown to us: list again, but not on every server of a list
	if time.Since(r.flavorsFetched) > time.Minute {
		if err := r.fetchFlavors(ctx); err != nil {
			r.c.log.Warn("openstack: cannot list flavors", "err", err)
		}
	}
	if name, ok := r.flavorByID[id]; ok {
		return name
	}
	return id
}

// fetchFlavors lists the flavors; r.flavorMu is held.
func (r *resolver) fetchFlavors(ctx context.Context) error {
	pages, err := flavors.ListDetail(r.c.compute, flavors.ListOpts{}).AllPages(ctx)
	if err != nil {
		return apiError("list flavors", err)
	}
	all, err := flavors.ExtractFlavors(pages)
	if err != nil {
		return apiError("list flavors", err)
	}
	r.flavorByName = make(map[string][]string, len(all))
	r.flavorByID = make(map[string]string, len(all))
	for _, f := range all {
		r.flavorByName[f.Name] = append(r.flavorByName[f.Name], f.ID)
		r.flavorByID[f.ID] = f.Name
	}
	r.flavorsFetched = time.Now()
	return nil
}

// imageID returns the ID of the active image called name (or with ID name).
func (r *resolver) imageID(ctx context.Context, name string) (string, error) {
	r.imageMu.Lock()
	defer r.imageMu.Unlock()
	if id, ok := r.images[name]; ok {
		return id, nil
	}
	pages, err := images.List(r.c.image, images.ListOpts{Name: name, Status: images.ImageStatusActive}).AllPages(ctx)
	if err != nil {
		return "", apiError(fmt.Sprintf("look up image %q", name), err)
	}
	found, err := images.ExtractImages(pages)
	if err != nil {
		return "", apiError(fmt.Sprintf("look up image %q", name), err)
	}
	var id string
	switch {
	case len(found) == 1:
		id = found[0].ID
	case len(found) > 1:
		return "", actions.Errorf(actions.Invalid, "image name %q is ambiguous (%d images have it); use its ID", name, len(found))
	case uuidLike.MatchString(name):
		img, err := images.Get(ctx, r.c.image, name).Extract()
		if err == nil && img.Status == images.ImageStatusActive {
			id = img.ID
		} else if err != nil && !isNotFound(err) {
			return "", apiError(fmt.Sprintf("look up image %q", name), err)
		}
	}
	if id == "" {
		return "", actions.Errorf(actions.Invalid, "unknown image %q (no active image has that name)", name)
	}
	if r.images == nil {
		r.images = map[string]string{}
	}
	r.images[name] = id
	return id, nil
}

// networkID returns the ID of the network called name (or with ID name).
func (r *resolver) networkID(ctx context.Context, name string) (string, error) {
	r.networkMu.Lock()
	defer r.networkMu.Unlock()
	if id, ok := r.networks[name]; ok {
		return id, nil
	}
	pages, err := networks.List(r.c.network, networks.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return "", apiError(fmt.Sprintf("look up network %q", name), err)
	}
	found, err := networks.ExtractNetworks(pages)
	if err != nil {
		return "", apiError(fmt.Sprintf("look up network %q", name), err)
	}
	var id string
	switch {
	case len(found) == 1:
		id = found[0].ID
	case len(found) > 1:
		return "", actions.Errorf(actions.Invalid, "network name %q is ambiguous (%d networks have it); use its ID", name, len(found))
	case uuidLike.MatchString(name):
		n, err := networks.Get(ctx, r.c.network, name).Extract()
		if err == nil {
			id = n.ID
		} else if !isNotFound(err) {
			return "", apiError(fmt.Sprintf("look up network %q", name), err)
		}
	}
	if id == "" {
		return "", actions.Errorf(actions.Invalid, "unknown network %q", name)
	}
	if r.networks == nil {
		r.networks = map[string]string{}
	}
	r.networks[name] = id
	return id, nil
}
