package db

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// sqliteDefaults are the settings every SQLite connection gets unless the DSN
// already sets them. Order matters: the driver runs pragmas in DSN order, and
// busy_timeout must be in force before journal_mode takes its lock.
var sqliteDefaults = []struct {
	pragma string // name, lower case
	value  string // the _pragma value appended
	file   bool   // only for file databases (WAL means nothing in memory)
}{
	{pragma: "busy_timeout", value: "busy_timeout(5000)"},
	{pragma: "foreign_keys", value: "foreign_keys(1)"},
	{pragma: "journal_mode", value: "journal_mode(WAL)", file: true},
}

// sqliteDSN completes a go-sqlite DSN ("file:gatehouse.db", "gatehouse.db",
// ":memory:", "file::memory:?cache=shared" ...) with the settings Gatehouse
// relies on, appended to the query the operator gave:
//
//   - _txlock=immediate: write transactions take the write lock at BEGIN, so
//     concurrent writers wait on busy_timeout instead of failing with
//     SQLITE_BUSY when a read lock cannot be upgraded;
//   - _pragma=busy_timeout(5000), _pragma=foreign_keys(1) (ON DELETE CASCADE
//     needs it on every connection) and, for files, _pragma=journal_mode(WAL)
//     (readers do not block the writer).
//
// A pragma or _txlock the DSN already sets is left as it is, never
// duplicated. _time_format=sqlite is dropped: it is the driver's default
// format anyway, and the driver ignores _txlock when it is present. It also
// reports whether the DSN names an in-memory database.
func sqliteDSN(dsn string) (full string, memory bool, err error) {
	if strings.TrimSpace(dsn) == "" {
		return "", false, errors.New("empty sqlite dsn")
	}
	base, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", false, fmt.Errorf("sqlite dsn query: %w", err)
	}
	switch tf := q.Get("_time_format"); tf {
	case "", "sqlite":
	default:
		return "", false, fmt.Errorf("sqlite dsn: unsupported _time_format %q", tf)
	}
	memory = base == ":memory:" || strings.HasPrefix(base, "file::memory:") || q.Get("mode") == "memory"

	var parts []string
	for _, p := range strings.Split(rawQuery, "&") {
		if p == "" {
			continue
		}
		if k, _, _ := strings.Cut(p, "="); k == "_time_format" {
			continue
		}
		parts = append(parts, p)
	}
	have := make(map[string]bool)
	for _, v := range q["_pragma"] {
		have[pragmaName(v)] = true
	}
	for _, d := range sqliteDefaults {
		if have[d.pragma] || (d.file && memory) {
			continue
		}
		parts = append(parts, "_pragma="+d.value)
	}
	if !q.Has("_txlock") {
		parts = append(parts, "_txlock=immediate")
	}
	return base + "?" + strings.Join(parts, "&"), memory, nil
}

// pragmaName returns the lower-case name of a _pragma value such as
// "journal_mode(WAL)", "busy_timeout = 100" or "main.journal_mode=wal".
func pragmaName(v string) string {
	name := v
	if i := strings.IndexAny(name, "(="); i >= 0 {
		name = name[:i]
	}
	name = strings.ToLower(strings.TrimSpace(name))
	if _, after, ok := strings.Cut(name, "."); ok {
		name = after
	}
	return name
}

var (
	kvPassword    = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
	queryPassword = regexp.MustCompile(`(?i)([?&]password=)([^&#]*)`)
)

// redactDSN returns the DSN with its password replaced by "xxxxx", for error
// messages, and the password itself ("" when there is none). It handles
// URLs (user:password@host, ?password=), key=value strings and URLs that do
// not parse.
func redactDSN(dsn string) (redacted, password string) {
	redacted = dsn
	if scheme, rest, ok := strings.Cut(dsn, "://"); ok {
		authority, _, _ := strings.Cut(rest, "/")
		authority, _, _ = strings.Cut(authority, "?")
		if i := strings.LastIndex(authority, "@"); i >= 0 {
			if user, pw, ok := strings.Cut(authority[:i], ":"); ok && pw != "" {
				password = pw
				if dec, err := url.PathUnescape(pw); err == nil {
					password = dec
				}
				redacted = scheme + "://" + user + ":xxxxx" + rest[i:]
			}
		}
	}
	re := kvPassword
	if strings.Contains(dsn, "://") {
		re = queryPassword
	}
	if m := re.FindStringSubmatch(redacted); m != nil {
		if password == "" {
			password = strings.Trim(m[2], "'")
			if dec, err := url.QueryUnescape(password); err == nil && re == queryPassword {
				password = dec
			}
		}
		redacted = re.ReplaceAllString(redacted, "${1}xxxxx")
	}
	return redacted, password
}

// redactedError hides a password that a driver error might quote.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactErr(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), password, "xxxxx"), err: err}
}
