package app_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/gateway/db"
)

// TestHostileUserAgentsAreAudited: a user agent with invalid UTF-8 or a
// character split at the 256-byte cut must not cost the audit record of
// the sign-in that carried it, on SQLite and on Postgres. One with a NUL
// (sent over a raw socket: Go's client refuses it) is refused before
// routing, so no sign-in happens to be recorded.
func TestHostileUserAgentsAreAudited(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		s := newStack(t, backend, nil)
		c := s.client()
		agents := []string{
			"Mozilla/5.0 \xff\xfe",
			strings.Repeat("a", 255) + "é and more",
			strings.Repeat("€", 100),
		}
		for _, ua := range agents {
			r := c.post("/auth/login", map[string]string{"email": "nobody@example.com", "password": "wrong-horse-1"}, "User-Agent", ua)
			expect(t, r, 401, "invalid_credentials")
		}
		if got := rawLogin(t, s.Base, "Mozilla\x00/5.0"); !strings.Contains(got, " 400 ") {
			t.Errorf("a NUL in the user agent answered %q, want 400", got)
		}
		var n int64
		deadline := time.Now().Add(5 * time.Second)
		for {
			if err := s.App.DB.Model(&db.AuditEvent{}).Where("type = ?", "user.login_failed").Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n >= int64(len(agents)) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n != int64(len(agents)) {
			t.Errorf("%d user.login_failed records, want %d", n, len(agents))
		}
	})
}

// rawLogin posts a failing sign-in with a user agent sent byte for byte
// and returns the start of the answer.
func rawLogin(t *testing.T, base, ua string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"email":"nobody@example.com","password":"wrong-horse-1"}`
	req := "POST /auth/login HTTP/1.1\r\nHost: " + strings.TrimPrefix(base, "http://") + "\r\nContent-Type: application/json\r\n" +
		"User-Agent: " + ua + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, _ := conn.Read(buf)
	return string(buf[:n])
}
