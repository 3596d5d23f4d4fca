// Package admin is the query layer of the admin API (SPEC §4 Admin): it
// parses react-admin's list parameters, turns them into SQL through a
// declarative whitelist per resource, pages the result, and computes the
// dashboard metrics with aggregate queries. It knows nothing of HTTP: the
// handlers call ParseListParams, List and ContentRange, and render the rows.
//
//	p, err := admin.ParseListParams(query)
//	if err != nil { return err } // validation_failed
//	var users []db.User
//	total, start, end, err := admin.List(ctx, gdb, admin.Users, p, &users)
//	c.Set("Content-Range", admin.ContentRange("items", start, end, total))
//
// Safety: SQL is never built from request strings. Table names, columns and
// ORDER BY expressions come only from a Resource; an unknown filter or sort
// field is refused with validation_failed; every value is a bound
// parameter, and LIKE wildcards in searched text are escaped.
package adminapi

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// FieldKind says how a filter field matches its value.
type FieldKind int

const (
	// Text matches part of the column, case-insensitively: a JSON string,
	// searched literally (% and _ are not wildcards); "" matches everything.
	Text FieldKind = iota + 1
	// Exact matches the column exactly: a JSON string, or a list of strings
	// (any of them; an empty list matches nothing, as react-admin's getMany
	// of no ids expects).
	Exact
	// Bool matches a boolean column: true or false, as JSON booleans or the
	// strings "true" and "false".
	Bool
	// Time matches a time column: an ISO 8601 date ("2026-01-31": that
	// whole UTC day), a date-time (RFC 3339, e.g. "2026-01-31T12:00:00Z":
	// that instant; without a zone it is UTC), a range object
	// {"gte","gt","lte","lt"} of dates or date-times ("lte" of a date
	// includes that whole day, "gt" of a date starts after it), "null"
	// (IS NULL) or "!null" (IS NOT NULL).
	Time
	// Custom builds its condition with Field.Build.
	Custom
)

// Field is one filterable field of a resource. Column is an SQL expression
// from the whitelist (e.g. "users.email"), never from a request. A JSON null
// value is no condition, whatever the kind.
type Field struct {
	Column string
	Kind   FieldKind
	// Build makes a Custom field's condition from its raw JSON value: SQL
	// with ? placeholders and the values to bind to them. An error's text
	// is the message shown under filter.<name>.
	Build func(v json.RawMessage) (sql string, args []any, err error)
	// Windowed reports whether a Custom field's condition for v is counted
	// in List's CountWindow, as a substring search is: a test per row that
	// no index counts cheaply. nil: counted exactly.
	Windowed func(v json.RawMessage) bool
}

// Sort is one sortable field: an ORDER BY expression from the whitelist.
type Sort struct {
	// Expr is the expression, e.g. "users.email" or "lower(users.name)".
	Expr string
	// Nullable sorts NULLs last in both directions, on both databases
	// (Postgres would put them first in DESC, SQLite first in ASC).
	Nullable bool
	// Unique says that no two rows share a value of Expr (a unique index,
	// NOT NULL): the id tie-breaker is left out, so that the index alone
	// gives the order (a deep page of users by email walks
	// users_email_key instead of re-sorting every tie group).
	Unique bool
}

// Resource is the whitelist of one admin list: its table, the columns it
// selects, and the fields it filters and sorts on.
type Resource struct {
	// Table is the table listed.
	Table string
	// Columns are selected (empty: every column); secrets are left out.
	Columns []string
	// Fields are the filter fields by name; "q" is reserved for Search.
	Fields map[string]Field
	// Sorts are the sort fields by name. Every page is also ordered by
	// IDColumn in the same direction, so paging is stable under ties.
	Sorts map[string]Sort
	// IDColumn is the primary key, the tie-breaker.
	IDColumn string
	// Search are the columns that the "q" filter searches (a Text match in
	// any of them); empty: no "q" filter.
	Search []string
	// DefaultSort (a key of Sorts) and DefaultOrder (Asc or Desc) order a
	// list that names no sort.
	DefaultSort  string
	DefaultOrder string
}

// Users is the /admin/users list. Its rows scan into db.User (every column
// but totp_secret_enc; password_hash is kept so that handlers can list the
// "password" sign-in method, and must never be rendered).
//
// auth_method: "password" is a user with a password; "email_code" is a
// verified user (who can sign in with an emailed code when the email_code
// provider is on); anything else is a provider name (google, github,
// oidc:NAME) that the user has linked.
var Users = Resource{
	Table: "users",
	Columns: []string{
		"id", "email", "username", "name", "avatar_url", "role", "email_verified", "password_hash",
		"mfa_enabled", "blocked", "session_version", "created_at", "updated_at", "last_login_at",
	},
	Fields: map[string]Field{
		"id":             {Column: "users.id", Kind: Exact},
		"email":          {Column: "users.email", Kind: Text},
		"username":       {Column: "users.username", Kind: Text},
		"name":           {Column: "users.name", Kind: Text},
		"role":           {Column: "users.role", Kind: Exact},
		"blocked":        {Column: "users.blocked", Kind: Bool},
		"email_verified": {Column: "users.email_verified", Kind: Bool},
		"mfa_enabled":    {Column: "users.mfa_enabled", Kind: Bool},
		"created_at":     {Column: "users.created_at", Kind: Time},
		"updated_at":     {Column: "users.updated_at", Kind: Time},
		"last_login_at":  {Column: "users.last_login_at", Kind: Time},
		"auth_method":    {Kind: Custom, Build: authMethodCond, Windowed: isProvider},
		"workspace_id":   {Kind: Custom, Build: workspaceCond},
	},
	Sorts: map[string]Sort{
		"id":    {Expr: "users.id"},
		"email": {Expr: "users.email", Unique: true}, // stored lower-case
		// lower(username) is what users_username_lower_key indexes.
		"username":      {Expr: "lower(users.username)", Nullable: true},
		"name":          {Expr: "lower(users.name)"},
		"role":          {Expr: "users.role"},
		"created_at":    {Expr: "users.created_at"},
		"updated_at":    {Expr: "users.updated_at"},
		"last_login_at": {Expr: "users.last_login_at", Nullable: true},
	},
	IDColumn:     "users.id",
	Search:       []string{"users.email", "users.username", "users.name"},
	DefaultSort:  "created_at",
	DefaultOrder: Desc,
}

// VerificationRequests is the /admin/verification-requests list of emailed
// codes; its rows scan into VerificationRequest. code_hash is never
// selected. consumed_at "null" lists the codes still usable.
var VerificationRequests = Resource{
	Table:   "one_time_codes",
	Columns: []string{"id", "user_id", "email", "purpose", "created_at", "expires_at", "consumed_at", "attempts"},
	Fields: map[string]Field{
		"id":          {Column: "one_time_codes.id", Kind: Exact},
		"user_id":     {Column: "one_time_codes.user_id", Kind: Exact},
		"email":       {Column: "one_time_codes.email", Kind: Text},
		"purpose":     {Column: "one_time_codes.purpose", Kind: Exact},
		"created_at":  {Column: "one_time_codes.created_at", Kind: Time},
		"expires_at":  {Column: "one_time_codes.expires_at", Kind: Time},
		"consumed_at": {Column: "one_time_codes.consumed_at", Kind: Time},
	},
	Sorts: map[string]Sort{
		"id":         {Expr: "one_time_codes.id"},
		"user_id":    {Expr: "one_time_codes.user_id", Nullable: true},
		"email":      {Expr: "one_time_codes.email"},
		"purpose":    {Expr: "one_time_codes.purpose"},
		"created_at": {Expr: "one_time_codes.created_at"},
		"expires_at": {Expr: "one_time_codes.expires_at"},
		"attempts":   {Expr: "one_time_codes.attempts"},
	},
	IDColumn:     "one_time_codes.id",
	Search:       []string{"one_time_codes.email"},
	DefaultSort:  "created_at",
	DefaultOrder: Desc,
}

// Audit is the /admin/audit list; its rows scan into AuditEntry. "q"
// searches the event type and email.
var Audit = Resource{
	Table:   "audit_events",
	Columns: []string{"id", "time", "type", "actor_id", "subject_id", "email", "ip", "user_agent", "request_id", "data"},
	Fields: map[string]Field{
		"id":         {Column: "audit_events.id", Kind: Exact},
		"time":       {Column: `audit_events."time"`, Kind: Time},
		"type":       {Column: "audit_events.type", Kind: Exact},
		"actor_id":   {Column: "audit_events.actor_id", Kind: Exact},
		"subject_id": {Column: "audit_events.subject_id", Kind: Exact},
		"email":      {Column: "audit_events.email", Kind: Text},
		"ip":         {Column: "audit_events.ip", Kind: Exact},
		"request_id": {Column: "audit_events.request_id", Kind: Exact},
	},
	Sorts: map[string]Sort{
		"id":         {Expr: "audit_events.id"},
		"time":       {Expr: `audit_events."time"`},
		"type":       {Expr: "audit_events.type"},
		"actor_id":   {Expr: "audit_events.actor_id", Nullable: true},
		"subject_id": {Expr: "audit_events.subject_id", Nullable: true},
		"email":      {Expr: "audit_events.email", Nullable: true},
		"ip":         {Expr: "audit_events.ip", Nullable: true},
	},
	IDColumn:     "audit_events.id",
	Search:       []string{"audit_events.type", "audit_events.email"},
	DefaultSort:  "time",
	DefaultOrder: Desc,
}

// VerificationRequest is a row of VerificationRequests, in SPEC §4's shape
// (plus consumed_at). It has no code field on purpose.
type VerificationRequest struct {
	ID         string     `gorm:"column:id" json:"id"`
	UserID     *string    `gorm:"column:user_id" json:"user_id"`
	Email      string     `gorm:"column:email" json:"email"`
	Purpose    string     `gorm:"column:purpose" json:"purpose"`
	CreatedAt  time.Time  `gorm:"column:created_at" json:"created_at"`
	ExpiresAt  time.Time  `gorm:"column:expires_at" json:"expires_at"`
	ConsumedAt *time.Time `gorm:"column:consumed_at" json:"consumed_at"`
	Attempts   int        `gorm:"column:attempts" json:"attempts"`
}

// AuditEntry is a row of Audit. Data is the event's JSON object.
type AuditEntry struct {
	ID        string    `gorm:"column:id" json:"id"`
	Time      time.Time `gorm:"column:time" json:"time"`
	Type      string    `gorm:"column:type" json:"type"`
	ActorID   *string   `gorm:"column:actor_id" json:"actor_id"`
	SubjectID *string   `gorm:"column:subject_id" json:"subject_id"`
	Email     *string   `gorm:"column:email" json:"email"`
	IP        *string   `gorm:"column:ip" json:"ip"`
	UserAgent *string   `gorm:"column:user_agent" json:"user_agent"`
	RequestID string    `gorm:"column:request_id" json:"request_id"`
	Data      JSONText  `gorm:"column:data" json:"data"`
}

// JSONText is JSON read as text from a column that is JSONB on Postgres and
// TEXT on SQLite; it is marshalled as is (empty: null).
type JSONText []byte

var (
	_ sql.Scanner    = (*JSONText)(nil)
	_ json.Marshaler = JSONText(nil)
)

// Scan implements sql.Scanner.
func (j *JSONText) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*j = nil
	case string:
		*j = JSONText(x)
	case []byte:
		*j = append(JSONText(nil), x...)
	default:
		return fmt.Errorf("admin: scan %T into JSONText", v)
	}
	return nil
}

// MarshalJSON implements json.Marshaler.
func (j JSONText) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	if !json.Valid(j) {
		return nil, errors.New("admin: JSONText is not valid JSON")
	}
	return j, nil
}
