package db

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gatehouse/gateway/db/dbtest"
)

func TestGormLoggerHidesParameters(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gdb, err := Open(t.Context(), Options{Driver: DriverSQLite, DSN: dbtest.SQLiteDSN(t), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(gdb)
	if _, err := Up(t.Context(), gdb, DriverSQLite); err != nil {
		t.Fatal(err)
	}
	hash := "$argon2id$v=19$m=65536,t=3,p=2$c2VjcmV0LXNhbHQ$c2VjcmV0LWhhc2g"
	if err := gdb.WithContext(t.Context()).Create(&User{Email: "log@example.com", PasswordHash: &hash}).Error; err != nil {
		t.Fatal(err)
	}
	// A failing statement is logged at Debug only, still without values.
	_ = gdb.WithContext(t.Context()).Create(&User{Email: "log@example.com", PasswordHash: &hash}).Error

	out := buf.String()
	for _, leak := range []string{hash, "log@example.com"} {
		if strings.Contains(out, leak) {
			t.Errorf("log contains parameter value %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "INSERT INTO") || !strings.Contains(out, "sql failed") {
		t.Errorf("log lacks the statements:\n%s", out)
	}
	if strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
		t.Errorf("log has Warn/Error records for fast or failed statements:\n%s", out)
	}
}

func TestGormLoggerSlowQuery(t *testing.T) {
	var buf bytes.Buffer
	l := newGormLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	fc := func() (string, int64) { return "SELECT * FROM users WHERE email = ?", 1 }
	l.Trace(t.Context(), time.Now(), fc, nil)
	l.Trace(t.Context(), time.Now(), fc, errors.New("boom"))
	if buf.Len() != 0 {
		t.Fatalf("fast statements logged at Warn level:\n%s", buf.String())
	}
	l.Trace(t.Context(), time.Now().Add(-slowQuery-time.Millisecond), fc, nil)
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, `msg="slow sql"`) || !strings.Contains(out, "email = ?") {
		t.Errorf("slow statement log = %q", out)
	}
}
