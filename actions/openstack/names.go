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
// config into OpenStack IDs, and flavor IDs back into names. Flavors are
// cached for the life of the Cloud (they rarely move). Image and network
// answers are kept for nameTTL: clouds replace images under the same name
// (a refreshed centos-stream-9), and a bot that runs for weeks must not
// keep asking for a deleted one. A name not found is asked again next
// time. Each kind has its own lock, held while asking OpenStack, so ten
// parallel creates cost one lookup.
type resolver struct {
	c *Cloud

	flavorMu       sync.Mutex
	flavorByName   map[string][]string // name → IDs (names need not be unique)
	flavorByID     map[string]string   // ID → name
	flavorSize     map[string]actions.Flavor
	flavorsFetched time.Time

	images, networks nameCache
}

// nameTTL is how long an image or network name stays resolved.
const nameTTL = 10 * time.Minute

// nameCache remembers the IDs found for names, for nameTTL each.
type nameCache struct {
	mu  sync.Mutex
	ids map[string]cachedID
}

type cachedID struct {
	id    string
	found time.Time
}

// id returns the cached ID of name, or asks find and caches its answer.
func (c *nameCache) id(ctx context.Context, name string, find func(context.Context, string) (string, error)) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.ids[name]; ok && time.Since(e.found) < nameTTL {
		return e.id, nil
	}
	id, err := find(ctx, name)
	if err != nil {
		return "", err
	}
	if c.ids == nil {
		c.ids = map[string]cachedID{}
	}
	c.ids[name] = cachedID{id: id, found: time.Now()}
	return id, nil
}

// Resolve looks up every distinct flavor, image and network specs name,
// through the same lookups (and caches) as Create. It returns an Invalid
// error with a sentence per name not found, or the first error of a
// lookup that failed for another reason (OpenStack unreachable, …).
func (c *Cloud) Resolve(ctx context.Context, specs []actions.ServerSpec) error {
	seen := map[string]bool{}
	var unknown []string
	look := func(kind, name string, id func(context.Context, string) (string, error)) error {
		if name == "" || seen[kind+"\x00"+name] {
			return nil
		}
		seen[kind+"\x00"+name] = true
		_, err := id(ctx, name)
		if actions.ErrorKind(err) == actions.Invalid {
			unknown = append(unknown, actions.ErrorMessage(err))
			return nil
		}
		return err
	}
	for _, s := range specs {
		if err := look("flavor", s.Flavor, c.names.flavorID); err != nil {
			return err
		}
		if err := look("image", s.Image, c.names.imageID); err != nil {
			return err
		}
		for _, n := range s.Networks {
			if err := look("network", n, c.names.networkID); err != nil {
				return err
			}
		}
	}
	if len(unknown) > 0 {
		return actions.Errorf(actions.Invalid, "%s", strings.Join(unknown, "; "))
	}
	return nil
}

var uuidLike = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// flavorID returns the ID of the flavor called name (or with ID name).
func (r *resolver) flavorID(ctx context.Context, name string) (string, error) {
	r.flavorMu.Lock()
	defer r.flavorMu.Unlock()
	if ids := r.flavorByName[name]; len(ids) == 1 {
		return ids[0], nil
	} else if _, ok := r.flavorByID[name]; ok && len(ids) == 0 {
		return name, nil // given by ID
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
			r.c.log.WarnContext(ctx, "openstack: cannot list flavors", "err", err)
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
	r.flavorSize = make(map[string]actions.Flavor, len(all))
	for _, f := range all {
		r.flavorByName[f.Name] = append(r.flavorByName[f.Name], f.ID)
		r.flavorByID[f.ID] = f.Name
		r.flavorSize[f.ID] = actions.Flavor{Name: f.Name, VCPUs: f.VCPUs, RAMMB: f.RAM}
	}
	r.flavorsFetched = time.Now()
	return nil
}

// imageID returns the ID of the active image called name (or with ID name).
func (r *resolver) imageID(ctx context.Context, name string) (string, error) {
	return r.images.id(ctx, name, func(ctx context.Context, name string) (string, error) {
		return findID(ctx, "image", name, "no active image has that name",
			func(ctx context.Context) ([]string, error) {
				pages, err := images.List(r.c.image, images.ListOpts{Name: name, Status: images.ImageStatusActive}).AllPages(ctx)
				if err != nil {
					return nil, err
				}
				found, err := images.ExtractImages(pages)
				ids := make([]string, len(found))
				for i, img := range found {
					ids[i] = img.ID
				}
				return ids, err
			},
			func(ctx context.Context) (string, error) {
				img, err := images.Get(ctx, r.c.image, name).Extract()
				if err != nil || img.Status != images.ImageStatusActive {
					return "", err
				}
				return img.ID, nil
			})
	})
}

// networkID returns the ID of the network called name (or with ID name).
func (r *resolver) networkID(ctx context.Context, name string) (string, error) {
	return r.networks.id(ctx, name, func(ctx context.Context, name string) (string, error) {
		return findID(ctx, "network", name, "",
			func(ctx context.Context) ([]string, error) {
				pages, err := networks.List(r.c.network, networks.ListOpts{Name: name}).AllPages(ctx)
				if err != nil {
					return nil, err
				}
				found, err := networks.ExtractNetworks(pages)
				ids := make([]string, len(found))
				for i, n := range found {
					ids[i] = n.ID
				}
				return ids, err
			},
			func(ctx context.Context) (string, error) {
				n, err := networks.Get(ctx, r.c.network, name).Extract()
				if err != nil {
					return "", err
				}
				return n.ID, nil
			})
	})
}

// findID returns the ID of the one kind (image, network) called name:
// byName lists the IDs of those with that name; when there is none and
// name looks like an ID, byID fetches it ("" and no error, or a 404, when
// it does not count). why, when not empty, says what "unknown" means.
func findID(ctx context.Context, kind, name, why string,
	byName func(context.Context) ([]string, error), byID func(context.Context) (string, error)) (string, error) {
	what := fmt.Sprintf("look up %s %q", kind, name)
	ids, err := byName(ctx)
	if err != nil {
		return "", apiError(what, err)
	}
	var id string
	switch {
	case len(ids) == 1:
		id = ids[0]
	case len(ids) > 1:
		return "", actions.Errorf(actions.Invalid, "%s name %q is ambiguous (%d %ss have it); use its ID", kind, name, len(ids), kind)
	case uuidLike.MatchString(name):
		id, err = byID(ctx)
		if err != nil && !isNotFound(err) {
			return "", apiError(what, err)
		}
	}
	if id == "" {
		return "", actions.Errorf(actions.Invalid, "unknown %s %q%s", kind, name, withParens(why))
	}
	return id, nil
}

func withParens(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
