package adminapi

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"gatehouse/gateway"
)

// Paging limits of every admin list.
const (
	// DefaultPerPage is the page size when the request names none.
	DefaultPerPage = 25
	// MaxPerPage caps per_page and the length of a range; larger requests
	// are served MaxPerPage rows, and Content-Range says which.
	MaxPerPage = 100

	// maxPage and maxRangeIndex keep offsets far from int overflow. A page
	// past the last row costs only the count query (List skips the page).
	maxPage       = 10_000_000
	maxRangeIndex = 1_000_000_000
)

// Sort directions, as ListParams.Sort holds them.
const (
	Asc  = "ASC"
	Desc = "DESC"
)

// ListParams are the paging, sorting and filtering parameters of an admin
// list (SPEC §4 Admin), parsed but not yet checked against a Resource:
// List rejects unknown sort and filter fields.
type ListParams struct {
	// Sort is empty (the resource's default order) or [field, "ASC"|"DESC"].
	Sort []string
	// Page (from 1) and PerPage (1..MaxPerPage) pick the rows when HasRange
	// is false.
	Page, PerPage int
	// Range is react-admin's inclusive [start, end] row range; when
	// HasRange it takes precedence over Page and PerPage.
	Range    [2]int
	HasRange bool
	// Paged is set when the request named page, per_page or range. A
	// filter on a list of ids without paging (react-admin's getMany) is
	// served whole: see List.
	Paged bool
	// Filter maps a filter field to its raw JSON value.
	Filter map[string]json.RawMessage
}

// ParseListParams reads the query parameters of an admin list:
//
//   - sort: a JSON array ["field","ASC"|"DESC"] (react-admin), or a bare
//     field name with order=ASC|DESC (default ASC); absent: the default order.
//   - page and per_page: whole numbers, defaults 1 and DefaultPerPage;
//     per_page above MaxPerPage is capped, not refused.
//   - range: a JSON array [start, end], inclusive, 0 <= start <= end
//     (react-admin); it takes precedence over page and per_page.
//   - filter: a JSON object (absent, empty or null: no filter).
//
// A malformed parameter is gateway.ValidationFailed with that parameter
// named in Fields; every malformed parameter is reported at once.
func ParseListParams(q url.Values) (ListParams, error) {
	p := ListParams{Page: 1, PerPage: DefaultPerPage}
	bad := map[string]string{}

	p.Sort = parseSort(q, bad)

	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			bad["page"] = "want a whole number from 1 to " + strconv.Itoa(maxPage)
		} else {
			p.Page = n
		}
	}
	if s := q.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			bad["per_page"] = "want a whole number from 1"
		} else {
			p.PerPage = min(n, MaxPerPage)
		}
	}

	if s := strings.TrimSpace(q.Get("range")); s != "" {
		var r []int
		if err := json.Unmarshal([]byte(s), &r); err != nil || len(r) != 2 || r[0] < 0 || r[1] < r[0] || r[1] > maxRangeIndex {
			bad["range"] = "want [start, end] with 0 <= start <= end"
		} else {
			p.Range, p.HasRange = [2]int{r[0], r[1]}, true
		}
	}

	if s := strings.TrimSpace(q.Get("filter")); s != "" {
		// A JSON null decodes to a nil map: no filter.
		if err := json.Unmarshal([]byte(s), &p.Filter); err != nil {
			bad["filter"] = "want a JSON object"
			p.Filter = nil
		}
	}

	if len(bad) > 0 {
		return ListParams{}, gateway.ValidationFailed(bad)
	}
	p.Paged = q.Has("page") || q.Has("per_page") || q.Has("range")
	return p, nil
}

// parseSort reads sort (react-admin's ["field","ASC"], or a bare field
// with order=ASC|DESC); problems go into bad.
func parseSort(q url.Values, bad map[string]string) []string {
	s := strings.TrimSpace(q.Get("sort"))
	if s == "" {
		return nil
	}
	if !strings.HasPrefix(s, "[") {
		d, ok := Asc, true
		if o := strings.TrimSpace(q.Get("order")); o != "" {
			d, ok = direction(o)
		}
		if !ok {
			bad["order"] = msgDirection
			return nil
		}
		return []string{s, d}
	}
	var parts []string
	if err := json.Unmarshal([]byte(s), &parts); err != nil || len(parts) < 1 || len(parts) > 2 || parts[0] == "" {
		bad["sort"] = `want ["field","ASC" or "DESC"]`
		return nil
	}
	dir := Asc
	if len(parts) == 2 {
		dir = parts[1]
	}
	d, ok := direction(dir)
	if !ok {
		bad["sort"] = msgDirection
		return nil
	}
	return []string{parts[0], d}
}

// Window returns the rows p asks for as an offset and a limit of at most
// MaxPerPage. Out-of-range values of a hand-built ListParams are clamped:
// a page below 1 is page 1, a per_page outside 1..MaxPerPage is the default
// or the cap, and a range with end < start is empty (limit 0).
func (p ListParams) Window() (offset, limit int) {
	if p.HasRange {
		start, end := max(p.Range[0], 0), p.Range[1]
		if end < start {
			return start, 0
		}
		return start, min(end-start+1, MaxPerPage)
	}
	per := p.PerPage
	switch {
	case per <= 0:
		per = DefaultPerPage
	case per > MaxPerPage:
		per = MaxPerPage
	}
	page := min(max(p.Page, 1), maxPage)
	return (page - 1) * per, per
}

// direction normalises a sort direction, case-insensitively.
func direction(s string) (string, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case Asc:
		return Asc, true
	case Desc:
		return Desc, true
	}
	return "", false
}
