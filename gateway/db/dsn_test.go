package db

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSQLiteDSN(t *testing.T) {
	const all = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_txlock=immediate"
	const memDefaults = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate"
	tests := []struct {
		name       string
		dsn        string
		want       string
		wantMemory bool
		wantErr    string
	}{
		{
			name: "plain file uri",
			dsn:  "file:gatehouse.db",
			want: "file:gatehouse.db?" + all,
		},
		{
			name: "plain path",
			dsn:  "/var/lib/gatehouse/gatehouse.db",
			want: "/var/lib/gatehouse/gatehouse.db?" + all,
		},
		{
			name: "existing unrelated params kept first",
			dsn:  "file:gatehouse.db?cache=private&mode=rwc",
			want: "file:gatehouse.db?cache=private&mode=rwc&" + all,
		},
		{
			name: "empty query",
			dsn:  "file:gatehouse.db?",
			want: "file:gatehouse.db?" + all,
		},
		{
			name: "existing pragmas not duplicated",
			dsn:  "file:gh.db?_pragma=busy_timeout(10000)&_pragma=journal_mode=DELETE",
			want: "file:gh.db?_pragma=busy_timeout(10000)&_pragma=journal_mode=DELETE&_pragma=foreign_keys(1)&_txlock=immediate",
		},
		{
			name: "pragma names matched case-insensitively and with schema",
			dsn:  "file:gh.db?_pragma=FOREIGN_KEYS%3D1&_pragma=main.journal_mode(wal)",
			want: "file:gh.db?_pragma=FOREIGN_KEYS%3D1&_pragma=main.journal_mode(wal)&_pragma=busy_timeout(5000)&_txlock=immediate",
		},
		{
			name: "explicit txlock kept",
			dsn:  "file:gh.db?_txlock=exclusive",
			want: "file:gh.db?_txlock=exclusive&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)",
		},
		{
			name: "everything already there",
			dsn:  "file:gh.db?" + all,
			want: "file:gh.db?" + all,
		},
		{
			name: "time format sqlite dropped",
			dsn:  "file:gh.db?_time_format=sqlite&cache=private",
			want: "file:gh.db?cache=private&" + all,
		},
		{
			name:       "memory",
			dsn:        ":memory:",
			want:       ":memory:?" + memDefaults,
			wantMemory: true,
		},
		{
			name:       "memory uri shared cache",
			dsn:        "file::memory:?cache=shared",
			want:       "file::memory:?cache=shared&" + memDefaults,
			wantMemory: true,
		},
		{
			name:       "memory mode",
			dsn:        "file:test.db?mode=memory",
			want:       "file:test.db?mode=memory&" + memDefaults,
			wantMemory: true,
		},
		{
			name:    "empty",
			dsn:     " ",
			wantErr: "empty sqlite dsn",
		},
		{
			name:    "bad query",
			dsn:     "file:gh.db?cache=%zz",
			wantErr: "sqlite dsn query",
		},
		{
			name:    "unknown time format",
			dsn:     "file:gh.db?_time_format=rfc3339",
			wantErr: `unsupported _time_format "rfc3339"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, memory, err := sqliteDSN(tc.dsn)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("sqliteDSN(%q) error = %v, want %q", tc.dsn, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("sqliteDSN(%q): %v", tc.dsn, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sqliteDSN(%q) (-want +got):\n%s", tc.dsn, diff)
			}
			if memory != tc.wantMemory {
				t.Errorf("memory = %v, want %v", memory, tc.wantMemory)
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct {
		name         string
		dsn          string
		wantRedacted string
		wantPassword string
	}{
		{
			name:         "url with password",
			dsn:          "postgres://gh:pw1@db:5432/gh?sslmode=require",
			wantRedacted: "postgres://gh:xxxxx@db:5432/gh?sslmode=require",
			wantPassword: "pw1",
		},
		{
			name:         "url without password",
			dsn:          "postgres://gh@db/gh",
			wantRedacted: "postgres://gh@db/gh",
		},
		{
			name:         "key value",
			dsn:          "host=db user=gh password=pw2 dbname=gh",
			wantRedacted: "host=db user=gh password=xxxxx dbname=gh",
			wantPassword: "pw2",
		},
		{
			name:         "key value quoted",
			dsn:          "host=db password='p w3' dbname=gh",
			wantRedacted: "host=db password=xxxxx dbname=gh",
			wantPassword: "p w3",
		},
		{
			name:         "url password in query",
			dsn:          "postgres://db/gh?sslmode=disable&password=pw4&user=gh",
			wantRedacted: "postgres://db/gh?sslmode=disable&password=xxxxx&user=gh",
			wantPassword: "pw4",
		},
		{
			name:         "unparsable url",
			dsn:          "postgres://gh:p%40w5@db:notaport/gh",
			wantRedacted: "postgres://gh:xxxxx@db:notaport/gh",
			wantPassword: "p@w5",
		},
		{
			name:         "sqlite",
			dsn:          "file:gatehouse.db?_txlock=immediate",
			wantRedacted: "file:gatehouse.db?_txlock=immediate",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			redacted, pw := redactDSN(tc.dsn)
			if redacted != tc.wantRedacted || pw != tc.wantPassword {
				t.Errorf("redactDSN(%q) = %q, %q; want %q, %q", tc.dsn, redacted, pw, tc.wantRedacted, tc.wantPassword)
			}
		})
	}
}

func TestRedactErr(t *testing.T) {
	base := errors.New("cannot connect with password hunter2")
	err := redactErr(base, "hunter2")
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("redactErr kept the password: %q", err)
	}
	if !errors.Is(err, base) {
		t.Error("redactErr broke the error chain")
	}
	if got := redactErr(base, ""); got != base {
		t.Errorf("redactErr without password = %v, want the error unchanged", got)
	}
}
