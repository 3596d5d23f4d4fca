package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// Limits on filter values.
const (
	maxTextLen   = 320  // bytes of a searched text (an email is at most 254)
	maxExactList = 1000 // values of one Exact list
)

// Messages under filter.<name> and sort.
const (
	msgUnknownField = "unknown field"
	msgText         = "want a string"
	msgTooLong      = "too long"
	msgExact        = "want a string or a list of strings"
	msgTooMany      = "too many values"
	msgBool         = "want true or false"
	msgTime         = `want an ISO 8601 date or date-time, a {"gte","lte"} range, "null" or "!null"`
	msgRange        = `want a range with gte, gt, lte or lt, each a date or date-time`
	msgAuthMethod   = "want password, email_code or a provider name"
	msgWorkspace    = "want a workspace id"
	msgDirection    = "want ASC or DESC"
)

// likeEscape is the LIKE escape character. "!" rather than a backslash: a
// backslash in an SQL literal means different things to Postgres (with
// standard_conforming_strings off) and SQLite.
const likeEscape = "!"

// cond is one SQL condition with its bound values.
type cond struct {
	sql  string
	args []any
	// search marks a condition that no index counts cheaply, such as a
	// substring match: List counts it in CountWindow.
	search bool
	// columns are the columns a substring match searches.
	columns []string
}

// searches reports whether c is a substring match on the column that
// sort orders by (the column itself or its lower()).
func (c cond) searches(sort Sort) bool {
	for _, col := range c.columns {
		if sort.Expr == col || sort.Expr == "lower("+col+")" {
			return true
		}
	}
	return false
}

// never is the condition that matches no row.
var never = cond{sql: "1 = 0"}

// unstorable reports whether s can be in no stored text: PostgreSQL text
// cannot hold a NUL byte (and refuses one as a bound value, which would be
// a 500), and Gatehouse writes none to SQLite either. A filter value with
// one matches nothing.
func unstorable(s string) bool { return strings.IndexByte(s, 0) >= 0 }

// matchable is c, or never when one of its string values is unstorable.
func matchable(c *cond) *cond {
	for _, a := range c.args {
		if s, ok := a.(string); ok && unstorable(s) {
			return &never
		}
	}
	return c
}

// where turns filter into conditions, ANDed by the caller. Unknown fields
// and bad values are collected into bad under "filter.<name>". Fields are
// visited in name order, so the SQL is the same for the same filter.
func (r Resource) where(filter map[string]json.RawMessage, bad map[string]string) []cond {
	names := make([]string, 0, len(filter))
	for name := range filter {
		names = append(names, name)
	}
	slices.Sort(names)

	var conds []cond
	for _, name := range names {
		raw := filter[name]
		var (
			c   *cond
			err error
		)
		switch f, ok := r.Fields[name]; {
		case name == "q" && len(r.Search) > 0:
			c, err = textCond(r.Search, raw)
		case !ok:
			err = errors.New(msgUnknownField)
		case isNull(raw):
			// No condition.
		case f.Kind == Text:
			c, err = textCond([]string{f.Column}, raw)
		case f.Kind == Exact:
			c, err = exactCond(f.Column, raw)
		case f.Kind == Bool:
			c, err = boolCond(f.Column, raw)
		case f.Kind == Time:
			c, err = timeCond(f.Column, raw)
		case f.Kind == Custom && f.Build != nil:
			var s string
			var args []any
			if s, args, err = f.Build(raw); err == nil {
				c = &cond{sql: s, args: args, search: f.Windowed != nil && f.Windowed(raw)}
			}
		default:
			err = errors.New(msgUnknownField)
		}
		if err != nil {
			bad["filter."+name] = err.Error()
			continue
		}
		if c != nil {
			conds = append(conds, *matchable(c))
		}
	}
	return conds
}

// orderBy returns the ORDER BY clause for sort ([field, direction] or
// empty for the default), with the id as the tie-breaker.
func (r Resource) orderBy(sort []string, bad map[string]string) (string, Sort) {
	name, dir := r.DefaultSort, r.DefaultOrder
	if len(sort) > 0 {
		name, dir = sort[0], Asc
		if len(sort) > 1 {
			d, ok := direction(sort[1])
			if !ok {
				bad["sort"] = msgDirection
				return "", Sort{}
			}
			dir = d
		}
	}
	s, ok := r.Sorts[name]
	if !ok {
		bad["sort"] = msgUnknownField
		return "", Sort{}
	}
	if dir != Desc {
		dir = Asc
	}
	order := s.Expr + " " + dir
	if s.Nullable {
		order += " NULLS LAST"
	}
	if s.Expr != r.IDColumn && !s.Unique {
		order += ", " + r.IDColumn + " " + dir
	}
	return order, s
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// stringValue decodes a JSON string.
func stringValue(raw json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// textCond matches part of any of columns, case-insensitively, with the
// value's LIKE wildcards escaped.
func textCond(columns []string, raw json.RawMessage) (*cond, error) {
	if isNull(raw) {
		return nil, nil
	}
	s, ok := stringValue(raw)
	if !ok {
		return nil, errors.New(msgText)
	}
	if len(s) > maxTextLen {
		return nil, errors.New(msgTooLong)
	}
	if s == "" {
		return nil, nil
	}
	if unstorable(s) {
		return &never, nil
	}
	pattern := "%" + escapeLike(s) + "%"
	parts := make([]string, len(columns))
	args := make([]any, len(columns))
	for i, col := range columns {
		parts[i] = "lower(" + col + ") LIKE lower(?) ESCAPE '" + likeEscape + "'"
		args[i] = pattern
	}
	return &cond{sql: "(" + strings.Join(parts, " OR ") + ")", args: args, search: true, columns: columns}, nil
}

var likeEscaper = strings.NewReplacer(likeEscape, likeEscape+likeEscape, "%", likeEscape+"%", "_", likeEscape+"_")

// escapeLike makes s match itself literally in a LIKE pattern.
func escapeLike(s string) string { return likeEscaper.Replace(s) }

// exactCond matches a string, or any string of a list. Unstorable values
// of a list are left out: they match nothing, and the others still match
// (react-admin's getMany of ids of which some are malformed).
func exactCond(column string, raw json.RawMessage) (*cond, error) {
	if s, ok := stringValue(raw); ok {
		return &cond{sql: column + " = ?", args: []any{s}}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New(msgExact)
	}
	if len(list) > maxExactList {
		return nil, errors.New(msgTooMany)
	}
	if list = slices.DeleteFunc(list, unstorable); len(list) == 0 {
		return &never, nil
	}
	return &cond{sql: column + " IN ?", args: []any{list}}, nil
}

// isList reports whether raw is a JSON array.
func isList(raw json.RawMessage) bool {
	b := bytes.TrimSpace(raw)
	return len(b) > 0 && b[0] == '['
}

// boolCond matches true or false, given as a JSON boolean or string.
func boolCond(column string, raw json.RawMessage) (*cond, error) {
	b, ok := boolValue(raw)
	if !ok {
		return nil, errors.New(msgBool)
	}
	return &cond{sql: column + " = ?", args: []any{b}}, nil
}

func boolValue(raw json.RawMessage) (value, ok bool) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, true
	}
	s, isString := stringValue(raw)
	switch {
	case !isString:
		return false, false
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// timeCond matches a date, a date-time, a range, "null" or "!null".
func timeCond(column string, raw json.RawMessage) (*cond, error) {
	if s, ok := stringValue(raw); ok {
		switch s {
		case "null":
			return &cond{sql: column + " IS NULL"}, nil
		case "!null":
			return &cond{sql: column + " IS NOT NULL"}, nil
		}
		t, day, ok := parseTime(s)
		if !ok {
			return nil, errors.New(msgTime)
		}
		if day {
			return &cond{sql: column + " >= ? AND " + column + " < ?", args: []any{t, t.AddDate(0, 0, 1)}}, nil
		}
		return &cond{sql: column + " = ?", args: []any{t}}, nil
	}

	var rng map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rng); err != nil || rng == nil {
		return nil, errors.New(msgTime)
	}
	var (
		parts []string
		args  []any
	)
	// Fixed order, so the SQL does not depend on map iteration.
	for _, op := range []string{"gte", "gt", "lte", "lt"} {
		v, ok := rng[op]
		if !ok || isNull(v) {
			continue
		}
		s, ok := stringValue(v)
		if !ok {
			return nil, errors.New(msgRange)
		}
		t, day, ok := parseTime(s)
		if !ok {
			return nil, errors.New(msgRange)
		}
		var sqlOp string
		switch {
		case op == "gte":
			sqlOp = " >= "
		case op == "gt" && day: // after that whole day
			sqlOp, t = " >= ", t.AddDate(0, 0, 1)
		case op == "gt":
			sqlOp = " > "
		case op == "lte" && day: // up to the end of that day
			sqlOp, t = " < ", t.AddDate(0, 0, 1)
		case op == "lte":
			sqlOp = " <= "
		case op == "lt":
			sqlOp = " < "
		}
		parts = append(parts, column+sqlOp+"?")
		args = append(args, t)
	}
	for op := range rng {
		switch op {
		case "gte", "gt", "lte", "lt":
		default:
			return nil, errors.New(msgRange)
		}
	}
	if len(parts) == 0 {
		return nil, nil
	}
	return &cond{sql: strings.Join(parts, " AND "), args: args}, nil
}

// Accepted date-time layouts. A value without a zone is UTC.
var zonelessLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04"}

// parseTime parses an ISO 8601 date (day = true: midnight UTC of it) or
// date-time, returned in UTC.
func parseTime(s string) (t time.Time, day, ok bool) {
	if len(s) == len(time.DateOnly) {
		t, err := time.Parse(time.DateOnly, s)
		return t, true, err == nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), false, true
	}
	for _, layout := range zonelessLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, false, true
		}
	}
	return time.Time{}, false, false
}

// authMethodCond is the Users auth_method filter.
func authMethodCond(raw json.RawMessage) (string, []any, error) {
	s, ok := stringValue(raw)
	if !ok || s == "" || len(s) > maxTextLen {
		return "", nil, errors.New(msgAuthMethod)
	}
	switch s {
	case MethodPassword:
		return "(users.password_hash IS NOT NULL AND users.password_hash <> '')", nil, nil
	case MethodEmailCode:
		return "users.email_verified = ?", []any{true}, nil
	}
	return "EXISTS (SELECT 1 FROM identities i WHERE i.user_id = users.id AND i.provider = ?)", []any{s}, nil
}

// isProvider reports whether an auth_method value names a provider: its
// condition joins identities for every user row, and the planner counts
// a common provider (a seventh of the users) with a scan of all of them.
func isProvider(raw json.RawMessage) bool {
	s, _ := stringValue(raw)
	return s != MethodPassword && s != MethodEmailCode
}

// workspaceCond is the Users workspace_id filter: members of the workspace.
func workspaceCond(raw json.RawMessage) (string, []any, error) {
	s, ok := stringValue(raw)
	if !ok || s == "" || len(s) > maxTextLen {
		return "", nil, errors.New(msgWorkspace)
	}
	return "EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.workspace_id = ?)", []any{s}, nil
}
