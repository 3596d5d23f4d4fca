package dbtest

import (
	"strings"
	"testing"
)

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		name string
		dsn  string
		want string
	}{
		{
			name: "url",
			dsn:  "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
			want: "postgres://postgres@127.0.0.1:5432/gh_x?sslmode=disable",
		},
		{
			name: "url without database",
			dsn:  "postgresql://u:p@db",
			want: "postgresql://u:p@db/gh_x",
		},
		{
			name: "key value with dbname",
			dsn:  "host=db user=u dbname=postgres sslmode=disable",
			want: "host=db user=u dbname=gh_x sslmode=disable",
		},
		{
			name: "key value without dbname",
			dsn:  "host=db user=u",
			want: "host=db user=u dbname=gh_x",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withDatabase(tc.dsn, "gh_x")
			if err != nil || got != tc.want {
				t.Errorf("withDatabase(%q) = %q, %v; want %q", tc.dsn, got, err, tc.want)
			}
		})
	}
}

func TestSQLiteDSN(t *testing.T) {
	dsn := SQLiteDSN(t)
	if !strings.HasPrefix(dsn, "file:") || !strings.HasSuffix(dsn, "gatehouse.db") {
		t.Errorf("SQLiteDSN = %q", dsn)
	}
}
