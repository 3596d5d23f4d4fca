package migrations

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	createTable = regexp.MustCompile(`(?m)^CREATE TABLE (\w+) \(`)
	createIndex = regexp.MustCompile(`(?m)^CREATE (?:UNIQUE )?INDEX (\w+) ON (\w+)`)
	column      = regexp.MustCompile(`(?m)^    (\w+|"\w+")\s+[A-Z]`)
	addColumn   = regexp.MustCompile(`(?m)^ALTER TABLE (\w+) ADD COLUMN (\w+) `)
)

// schemaOf lists the tables, columns and indexes each file creates.
func schemaOf(t *testing.T, fsys fs.FS) map[string][]string {
	t.Helper()
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]string)
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		up, down, ok := strings.Cut(src, "-- +goose Down")
		if !ok || !strings.Contains(up, "-- +goose Up") {
			t.Errorf("%s: want -- +goose Up and -- +goose Down sections", name)
		}
		var items []string
		for _, m := range createTable.FindAllStringSubmatch(up, -1) {
			items = append(items, "table "+m[1])
			if !strings.Contains(down, "DROP TABLE "+m[1]+";") {
				t.Errorf("%s: Down does not drop %s", name, m[1])
			}
		}
		for _, m := range column.FindAllStringSubmatch(up, -1) {
			items = append(items, "column "+strings.Trim(m[1], `"`))
		}
		for _, m := range addColumn.FindAllStringSubmatch(up, -1) {
			items = append(items, "column "+m[1]+"."+m[2])
			if !strings.Contains(down, "ALTER TABLE "+m[1]+" DROP COLUMN "+m[2]+";") {
				t.Errorf("%s: Down does not drop %s.%s", name, m[1], m[2])
			}
		}
		for _, m := range createIndex.FindAllStringSubmatch(up, -1) {
			items = append(items, "index "+m[1]+" on "+m[2])
		}
		slices.Sort(items)
		out[name] = items
	}
	return out
}

func TestDialectsMatch(t *testing.T) {
	pg, err := FS(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := FS(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	pgSchema, liteSchema := schemaOf(t, pg), schemaOf(t, lite)
	if len(pgSchema) == 0 {
		t.Fatal("no postgres migrations")
	}
	if diff := cmp.Diff(pgSchema, liteSchema); diff != "" {
		t.Errorf("postgres and sqlite migrations differ (-postgres +sqlite):\n%s", diff)
	}
	for name, items := range pgSchema {
		if !regexp.MustCompile(`^\d{5}_[a-z0-9_]+\.sql$`).MatchString(name) {
			t.Errorf("%s: want NNNNN_name.sql", name)
		}
		if len(items) == 0 {
			t.Errorf("%s: nothing found", name)
		}
	}
}

func TestFSUnknownDialect(t *testing.T) {
	if _, err := FS("mysql"); err == nil || !strings.Contains(err.Error(), `"mysql"`) {
		t.Errorf("FS(mysql) error = %v", err)
	}
}
