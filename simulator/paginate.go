package simulator

import (
	"fmt"
	"net/url"
	"strconv"
)

// maxPage is the largest page any list returns, Nova's default
// [api]max_limit.
const maxPage = 1000

// paginate applies the limit and marker query parameters the way Nova,
// Glance and Neutron do: the page starts after the item whose id is marker
// and holds at most limit items. next is the marker for the next page, set
// when the page is full, which is when the services add a "next" link.
func paginate[T any](items []T, id func(T) string, q url.Values) (page []T, next string, err *apiError) {
	return paginateWith(items, id, q, maxPage, func(marker string) string {
		return fmt.Sprintf("marker [%s] not found", marker)
	})
}

// paginateWith is paginate with a page size for requests that give no
// limit and the service's message for an unknown marker.
func paginateWith[T any](items []T, id func(T) string, q url.Values, defaultLimit int, markerMsg func(string) string) (page []T, next string, err *apiError) {
	limit := defaultLimit
	if raw := q.Get("limit"); raw != "" {
		n, convErr := strconv.Atoi(raw)
		if convErr != nil {
			return nil, "", badRequest("limit param must be an integer")
		}
		if n < 0 {
			return nil, "", badRequest("limit param must be positive")
		}
		limit = min(n, maxPage)
	}
	if marker := q.Get("marker"); marker != "" {
		at := -1
		for i, it := range items {
			if id(it) == marker {
				at = i
				break
			}
		}
		if at < 0 {
			return nil, "", badRequest(markerMsg(marker))
		}
		items = items[at+1:]
	}
	if len(items) <= limit {
		if len(items) == limit && limit > 0 && q.Get("limit") != "" {
			return items, id(items[len(items)-1]), nil
		}
		return items, "", nil
	}
	page = items[:limit]
	if limit == 0 {
		return page, "", nil
	}
	return page, id(page[len(page)-1]), nil
}

// nextLink is the URL of the next page: the request's own URL with the
// marker replaced.
func nextLink(r *request, marker string) string {
	q := r.URL.Query()
	q.Set("marker", marker)
	return r.baseURL() + r.URL.Path + "?" + q.Encode()
}
