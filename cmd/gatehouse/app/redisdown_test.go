package app_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gatehouse/config"
	"gatehouse/gateway/gatewaytest"
)

// TestRedisLateAtStart: Gatehouse starts while its Redis does not answer
// (readiness says so), and works, revocation included, once Redis is up.
func TestRedisLateAtStart(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if gatewaytest.RequireServers() {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	s := newStack(t, "embedded", func(c *config.Config) {
		c.Redis.URL = config.NewSecret(fmt.Sprintf("redis://127.0.0.1:%d/0", port))
	})
	if r := s.client().get("/readyz"); r.Status != 503 || !strings.Contains(string(r.Body), "redis") {
		t.Fatalf("readyz without Redis: %d %s", r.Status, r.Body)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for s.client().get("/readyz").Status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("readyz still failing after Redis came up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	c := s.client()
	email := uniqueEmail("late")
	s.signUp(c, email)
	other := s.client()
	expect(t, other.post("/auth/login", map[string]any{"email": email, "password": pw}), 200, "")
	if st, _ := other.echo("/app/x"); st != 200 {
		t.Fatalf("signed in, the route answers %d", st)
	}
	expect(t, c.post("/auth/logout/all", nil), 204, "")
	if st, _ := other.echo("/app/x"); st != 401 {
		t.Fatalf("after logout/all the other session still works: %d", st)
	}
}
