package app_test

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/config"
)

// repoFile reads a file of the repository (tests run in this package's
// directory).
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var goBlock = regexp.MustCompile("(?s)### Go \\(lestrrat-go/jwx\\)\n.*?```go\n(.*?)```")

// The Go example of docs/upstream.md is examples/upstream-go/main.go, and
// it runs: built and started as the upstream of a route, it greets the
// signed-in caller by the id and role of a real assertion, and refuses a
// request without one.
func TestUpstreamGoExampleRuns(t *testing.T) {
	m := goBlock.FindStringSubmatch(repoFile(t, "docs/upstream.md"))
	if m == nil {
		t.Fatal("docs/upstream.md has no Go example")
	}
	if m[1] != repoFile(t, "examples/upstream-go/main.go") {
		t.Fatal("the Go example in docs/upstream.md differs from examples/upstream-go/main.go")
	}
	bin := filepath.Join(t.TempDir(), "upstream-go")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../examples/upstream-go").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := newStack(t, "embedded", func(c *config.Config) {
		u, _ := config.ParseURL("http://" + addr)
		c.Routes = append([]config.Route{{Name: "example", Path: "/example", Upstream: u, Auth: "optional", Timeout: config.Duration(5 * time.Second)}}, c.Routes...)
	})
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GATEHOUSE_ISSUER="+s.Base, "ROUTE=example", "LISTEN="+addr)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() { // the example's log, for a failure
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log("example: " + sc.Text())
		}
	}()
	get := func(c *client) (int, string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := c.get("/example/hello")
			if r.Status != http.StatusBadGateway || time.Now().After(deadline) {
				return r.Status, string(r.Body)
			}
			time.Sleep(100 * time.Millisecond) // the example is starting
		}
	}
	if status, body := get(s.client()); status != 401 || !strings.Contains(body, "unauthenticated") {
		t.Fatalf("without a session the example answered %d %q", status, body)
	}
	c := s.client()
	id := s.signUp(c, uniqueEmail("example"))
	status, body := get(c)
	if status != 200 || !strings.HasPrefix(body, "hello "+id+" (") {
		t.Fatalf("signed in, the example answered %d %q, want hello %s (role)", status, body, id)
	}
}
