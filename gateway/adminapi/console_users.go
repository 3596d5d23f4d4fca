package adminapi

import (
	"encoding/json"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/db"
	"gatehouse/gateway/pages"
)

// usersForm are the users table's query parameters beside sort, order
// and page: the search, then every filter of SPEC §4. Dates are
// YYYY-MM-DD (inclusive); last_login is "never" or "ever".
var usersForm = []string{
	"q", "email", "username", "name", "role", "blocked", "email_verified", "mfa_enabled", "auth_method",
	"workspace_id", "created_from", "created_to", "login_from", "login_to", "last_login",
}

// userColumns are the users table's sortable columns, in order.
var userColumns = []string{"email", "username", "name", "role", "created_at", "last_login_at"}

// consoleMaxPage is the last page a console link may ask for (the query
// layer refuses far pages).
const consoleMaxPage = 1_000_000

// listQuery is a console list's request: its form values, sort and page.
type listQuery struct {
	Values url.Values // the form fields as given (trimmed)
	Sort   string     // a sort field, "" for the default order
	Order  string     // Asc or Desc
	Page   int
}

// readListQuery reads the form fields names, sort, order and page from
// the query string.
func readListQuery(c *fiber.Ctx, names []string) listQuery {
	lq := listQuery{Values: url.Values{}, Page: 1}
	for _, n := range names {
		if v := strings.TrimSpace(c.Query(n)); v != "" {
			lq.Values.Set(n, v)
		}
	}
	lq.Sort = strings.TrimSpace(c.Query("sort"))
	lq.Order = Asc
	if strings.EqualFold(strings.TrimSpace(c.Query("order")), Desc) {
		lq.Order = Desc
	}
	if n, err := strconv.Atoi(c.Query("page")); err == nil && n > 1 && n <= consoleMaxPage {
		lq.Page = n
	}
	return lq
}

// params are lq as the query layer's parameters, with filter.
func (lq listQuery) params(filter map[string]any) (ListParams, error) {
	q := url.Values{"page": {strconv.Itoa(lq.Page)}, "per_page": {strconv.Itoa(DefaultPerPage)}}
	if lq.Sort != "" {
		q.Set("sort", lq.Sort)
		q.Set("order", lq.Order)
	}
	if len(filter) > 0 {
		b, err := json.Marshal(filter)
		if err != nil {
			return ListParams{}, gateway.Internal(err)
		}
		q.Set("filter", string(b))
	}
	return ParseListParams(q)
}

// link is this list with changes (empty values left out).
func (lq listQuery) link(base string, changes map[string]string) template.URL {
	q := url.Values{}
	for k, v := range lq.Values {
		q[k] = v
	}
	if lq.Sort != "" {
		q.Set("sort", lq.Sort)
		q.Set("order", lq.Order)
	}
	if lq.Page > 1 {
		q.Set("page", strconv.Itoa(lq.Page))
	}
	for k, v := range changes {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return template.URL(base)
	}
	return template.URL(base + "?" + q.Encode())
}

// dateRange is the Time filter of the dates from and to (inclusive), nil
// when neither is given; a malformed date is a problem under its field.
func dateRange(lq listQuery, from, to string, bad map[string]string) map[string]string {
	r := map[string]string{}
	for field, op := range map[string]string{from: "gte", to: "lte"} {
		v := lq.Values.Get(field)
		if v == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			bad[field] = "want a date such as 2026-01-31"
			continue
		}
		r[op] = v
	}
	if len(r) == 0 {
		return nil
	}
	return r
}

// usersFilter is the query layer's filter of the users table's form.
func usersFilter(lq listQuery) (map[string]any, error) {
	f := map[string]any{}
	bad := map[string]string{}
	for _, k := range []string{"q", "email", "username", "name", "role", "auth_method", "workspace_id"} {
		if v := lq.Values.Get(k); v != "" {
			f[k] = v
		}
	}
	for _, k := range []string{"blocked", "email_verified", "mfa_enabled"} {
		switch lq.Values.Get(k) {
		case "":
		case "true":
			f[k] = true
		case "false":
			f[k] = false
		default:
			bad[k] = "want true or false"
		}
	}
	if r := dateRange(lq, "created_from", "created_to", bad); r != nil {
		f["created_at"] = r
	}
	switch lq.Values.Get("last_login") {
	case "":
		if r := dateRange(lq, "login_from", "login_to", bad); r != nil {
			f["last_login_at"] = r
		}
	case "never":
		f["last_login_at"] = "null"
	case "ever":
		f["last_login_at"] = "!null"
	default:
		bad["last_login"] = "want never or ever"
	}
	if len(bad) > 0 {
		return nil, gateway.ValidationFailed(bad)
	}
	return f, nil
}

// formFields maps the query layer's problems (filter.<name>, sort) to the
// form's fields.
var formFields = map[string]string{
	"filter.created_at": "created_from", "filter.last_login_at": "login_from", "filter.time": "from",
}

// formFailure is a list's validation error with its problems under the
// form's field names.
func formFailure(err error) (*gateway.Error, bool) {
	ge, ok := pageFailure(err)
	if !ok {
		return nil, false
	}
	if len(ge.Fields) > 0 {
		cp := *ge
		cp.Fields = make(map[string]string, len(ge.Fields))
		for k, v := range ge.Fields {
			if f, ok := formFields[k]; ok {
				k = f
			}
			cp.Fields[strings.TrimPrefix(k, "filter.")] = v
		}
		ge = &cp
	}
	return ge, true
}

// windowed reports whether the users table's total may be the lower
// bound of List's CountWindow: a substring search or a linked provider.
func windowed(lq listQuery) bool {
	for _, k := range []string{"q", "email", "username", "name"} {
		if lq.Values.Get(k) != "" {
			return true
		}
	}
	m := lq.Values.Get("auth_method")
	return m != "" && m != MethodPassword && m != MethodEmailCode
}

// pager is a console list's paging line: rows From..To of Total (at least
// Total when AtLeast), and the links to the pages beside.
type pager struct {
	From, To   int
	Total      int64
	AtLeast    bool
	Prev, Next template.URL
}

// newPager pages a list whose rows start..end of total are shown.
func newPager(lq listQuery, base string, total int64, start, end int, lowerBound bool) pager {
	p := pager{From: start + 1, To: end + 1, Total: total}
	if end < start {
		p.From, p.To = 0, 0
	}
	// List's bounded count says start+CountWindow+1 when it stopped
	// counting: there are more than start+CountWindow rows.
	if lowerBound && total == int64(start)+CountWindow+1 {
		p.AtLeast, p.Total = true, int64(start)+CountWindow
	}
	if lq.Page > 1 {
		p.Prev = lq.link(base, map[string]string{"page": strconv.Itoa(lq.Page - 1)})
	}
	if int64(end+1) < total {
		p.Next = lq.link(base, map[string]string{"page": strconv.Itoa(lq.Page + 1)})
	}
	return p
}

// column is a sortable column head.
type column struct {
	Field    string
	Link     template.URL
	AriaSort template.HTMLAttr // aria-sort="ascending" or "descending" on the sorted column
	Arrow    string
}

// columns are the heads of fields: a link that sorts by the column
// (the other direction when it is the sorted one), the default sort
// (defField, defOrder) when the list names none.
func (lq listQuery) columns(base string, fields []string, defField, defOrder string) map[string]column {
	cur, order := lq.Sort, lq.Order
	if cur == "" {
		cur, order = defField, defOrder
	}
	out := make(map[string]column, len(fields))
	for _, f := range fields {
		col := column{Field: f}
		next := Asc
		if f == cur {
			if order == Asc {
				next = Desc
				col.AriaSort, col.Arrow = `aria-sort="ascending"`, "▲"
			} else {
				col.AriaSort, col.Arrow = `aria-sort="descending"`, "▼"
			}
		}
		col.Link = lq.link(base, map[string]string{"sort": f, "order": next, "page": ""})
		out[f] = col
	}
	return out
}

// usersPageData is the users table's data.
type usersPageData struct {
	pages.Data
	Form url.Values
	// Sort and Order are the list's sort ("" the default), kept by the
	// search form.
	Sort, Order string
	Roles       []string
	Users       []auth.UserJSON
	Columns     map[string]column
	Pager       pager
}

// F is the form field name's value.
func (d *usersPageData) F(name string) string { return d.Form.Get(name) }

// Flags are the yes/no filters.
func (d *usersPageData) Flags() []string { return []string{"blocked", "email_verified", "mfa_enabled"} }

// usersPage is GET /admin: the users table.
func (s *Service) usersPage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	lq := readListQuery(c, usersForm)
	base := s.pages().URL("admin", nil)
	d := &usersPageData{Data: s.consoleData(c, sectionUsers), Form: lq.Values, Roles: s.roles(), Users: []auth.UserJSON{},
		Sort: lq.Sort, Order: lq.Order}
	d.Notice = notice(c)
	d.Columns = lq.columns(base, userColumns, Users.DefaultSort, Users.DefaultOrder)
	filter, err := usersFilter(lq)
	var rows []db.User
	l, err := consoleList(c, s.db, Users, lq, filter, err, &rows)
	if err != nil {
		return err
	}
	if d.Failure = l.failure; d.Failure == nil {
		if d.Users, err = s.usersJSON(ctx, rows); err != nil {
			return err
		}
	}
	d.Pager = l.pager(lq, base, windowed(lq))
	return s.pages().RenderOwn(c, l.status, "admin-users", d, &d.Data)
}

// listed is one page of a console list: where its rows start and end
// (end < start: none) of how many, and the refusal of the list's form
// the page shows, with the page's status.
type listed struct {
	total      int64
	start, end int
	status     int
	failure    *gateway.Error
}

// consoleList lists the page lq asks of r into out, with filter. formErr
// is a problem found in the form already (nil: none); then nothing is
// listed. A refusal (a bad filter value) is the page's failure, with the
// problems under the form's field names; anything else is an error.
func consoleList[T any](c *fiber.Ctx, gdb *gorm.DB, r Resource, lq listQuery, filter map[string]any, formErr error, out *[]T) (listed, error) {
	l := listed{end: -1, status: fiber.StatusOK}
	err := formErr
	if err == nil {
		var p ListParams
		if p, err = lq.params(filter); err == nil {
			l.total, l.start, l.end, err = List(c.UserContext(), gdb, r, p, out)
		}
	}
	if err != nil {
		ge, ok := formFailure(err)
		if !ok {
			return l, gateway.AsError(err)
		}
		l.failure, l.status = ge, ge.Status
	}
	return l, nil
}

// pager is the paging line of l; lowerBound says that the list's total
// may be CountWindow's lower bound.
func (l listed) pager(lq listQuery, base string, lowerBound bool) pager {
	return newPager(lq, base, l.total, l.start, l.end, lowerBound)
}

// roles are the platform roles a user may have: admin, then
// accounts.roles.
func (s *Service) roles() []string {
	out := []string{adminRole}
	for _, r := range s.accounts.Roles {
		if r != adminRole {
			out = append(out, r)
		}
	}
	return out
}
