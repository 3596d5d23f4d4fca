package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
)

// CountWindow bounds the count of a list filtered by a substring search
// (q, or a text field such as email) or by another test that no index
// counts cheaply (Field.Windowed: a linked provider of auth_method): an
// exact count of a broad match reads every row. List counts at most
// CountWindow+1 matches from the page's start: when there are no more,
// the total is exact; otherwise it is start+CountWindow+1, a lower bound
// that grows as the pages advance. Content-Range stays a valid
// "items a-b/N" (N > b) either way, which react-admin parses.
const CountWindow = 1000

// SortWindow bounds the matches of a substring search on the sort column
// that List sorts itself (on Postgres). Such a search's matches cluster in
// the order of the sort (every "user99…" sorts after "user1…" to
// "user98…"), which the planner cannot know: walking the sort's index, it
// may read most of the table before the first match. When the planner
// expects at most SortWindow matches of a search on the sort column, List
// reads them all through the search's (trigram) index and sorts them; with
// more, matches are dense enough that the index walk finds a page soon.
const SortWindow = 20000

// idField is the filter field of react-admin's getMany.
const idField = "id"

// List loads one page of r into out. It validates p against r (an unknown
// filter or sort field, or a value of the wrong type, is
// gateway.ValidationFailed naming every bad field at once), counts the
// matching rows (see CountWindow for substring searches), then reads the
// page ordered by the sort field and the id (same direction, so paging is
// stable). A page past the last row costs only the count: out is set to
// an empty, non-nil slice.
//
// A filter of a list of ids (at most maxExactList) without page, per_page
// or range is react-admin's getMany: every listed row that exists is
// returned, not one page.
//
// start and end are the 0-based, inclusive indexes of the rows in out
// (end = start-1 when out is empty), as ContentRange wants them. Database
// errors are returned wrapped; the caller's error handler renders them.
func List[T any](ctx context.Context, gdb *gorm.DB, r Resource, p ListParams, out *[]T) (total int64, start, end int, err error) {
	bad := map[string]string{}
	conds := r.where(p.Filter, bad)
	order, sort := r.orderBy(p.Sort, bad)
	if len(bad) > 0 {
		return 0, 0, -1, gateway.ValidationFailed(bad)
	}
	offset, limit := p.Window()
	raw, ok := p.Filter[idField]
	getMany := ok && !p.Paged && isList(raw)
	if getMany {
		offset, limit = 0, maxExactList
	}

	scoped := func() *gorm.DB {
		tx := gdb.WithContext(ctx).Table(r.Table)
		for _, c := range conds {
			tx = tx.Where(c.sql, c.args...)
		}
		return tx
	}
	if getMany {
		// Every match is read: the rows are the count.
		total = maxExactList
	} else if total, err = count(ctx, gdb, scoped, conds, offset); err != nil {
		return 0, 0, -1, fmt.Errorf("admin: count %s: %w", r.Table, err)
	}

	rows := []T{}
	if limit > 0 && int64(offset) < total {
		tx := scoped()
		if len(r.Columns) > 0 {
			tx = tx.Select(r.Columns)
		}
		// A search on the sort column with few matches: sort them
		// (SortWindow). The planner's estimate decides: counting a broad
		// match to learn that it is broad would cost more than its index
		// walk.
		if !getMany && gdb.Dialector.Name() == db.DriverPostgres &&
			slices.ContainsFunc(conds, func(c cond) bool { return c.searches(sort) }) {
			est, err := estimate(ctx, gdb, scoped().Select("1"))
			if err != nil {
				return 0, 0, -1, fmt.Errorf("admin: estimate %s: %w", r.Table, err)
			}
			if est <= SortWindow {
				// A subquery with a LIMIT is planned on its own, so the
				// planner cannot walk the sort's index: the matches come from
				// the search's index, then are sorted. The LIMIT cuts nothing.
				tx = gdb.WithContext(ctx).Table("(?) AS matches", tx.Limit(math.MaxInt32))
				order = strings.ReplaceAll(order, r.Table+".", "matches.")
			}
		}
		if err := tx.Order(order).Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
			return 0, 0, -1, fmt.Errorf("admin: list %s: %w", r.Table, err)
		}
	}
	if getMany {
		total = int64(len(rows))
	}
	*out = rows
	return total, offset, offset + len(rows) - 1, nil
}

// count is the total of a list: exact, or for a substring search the
// bounded count that CountWindow describes. A search page past the last
// match falls back to the exact count (the rows up to offset are read
// anyway), so that the total of an empty page is right.
func count(ctx context.Context, gdb *gorm.DB, scoped func() *gorm.DB, conds []cond, offset int) (int64, error) {
	var n int64
	if !slices.ContainsFunc(conds, func(c cond) bool { return c.search }) {
		err := scoped().Count(&n).Error
		return n, err
	}
	window := scoped().Select("1").Offset(offset).Limit(CountWindow + 1)
	if err := gdb.WithContext(ctx).Table("(?) AS window_rows", window).Count(&n).Error; err != nil {
		return 0, err
	}
	if n == 0 && offset > 0 {
		err := scoped().Count(&n).Error
		return n, err
	}
	return int64(offset) + n, nil
}

// estimate is the planner's estimate of the rows of q (Postgres): EXPLAIN
// plans the statement with its bound values and runs nothing.
func estimate(ctx context.Context, gdb *gorm.DB, q *gorm.DB) (float64, error) {
	var rows []map[string]any
	stmt := q.Session(&gorm.Session{DryRun: true}).Find(&rows).Statement
	var plan string
	if err := gdb.WithContext(ctx).Raw("EXPLAIN (FORMAT JSON) "+stmt.SQL.String(), stmt.Vars...).Row().Scan(&plan); err != nil {
		return 0, err
	}
	var out []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal([]byte(plan), &out); err != nil || len(out) == 0 {
		return 0, fmt.Errorf("unexpected EXPLAIN output: %v", err)
	}
	return out[0].Plan.Rows, nil
}

// ContentRange is the Content-Range header of a page: "items 0-9/42" for
// unit "items", rows start..end (inclusive) of total. An empty page
// (end < start, or start >= total) is "items */0", as SPEC §4 fixes; the
// real total still goes in X-Total-Count and the body.
func ContentRange(unit string, start, end int, total int64) string {
	if end < start || start < 0 || int64(start) >= total {
		return unit + " */0"
	}
	return unit + " " + strconv.Itoa(start) + "-" + strconv.Itoa(end) + "/" + strconv.FormatInt(total, 10)
}

// Providers returns the sign-in methods beyond password and email_code of
// each of userIDs: passkey when the user has one, then the linked
// providers (oldest link first), in two queries, so that a page of users
// can list its auth_methods without a query per user. Users without any
// are absent.
func Providers(ctx context.Context, gdb *gorm.DB, userIDs []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(userIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		UserID   string `gorm:"column:user_id"`
		Provider string `gorm:"column:provider"`
	}
	err := gdb.WithContext(ctx).Table("identities").Select("user_id", "provider").
		Where("user_id IN ?", userIDs).Order("created_at, provider").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("admin: providers: %w", err)
	}
	var withPasskeys []string
	err = gdb.WithContext(ctx).Table("passkeys").Distinct("user_id").Where("user_id IN ?", userIDs).Pluck("user_id", &withPasskeys).Error
	if err != nil {
		return nil, fmt.Errorf("admin: passkeys: %w", err)
	}
	for _, id := range withPasskeys {
		out[id] = append(out[id], "passkey")
	}
	for _, r := range rows {
		out[r.UserID] = append(out[r.UserID], r.Provider)
	}
	return out, nil
}
