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
	"gatehouse/gateway/gatewaytest"
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
	runExample(t, func(issuer, route, addr string) *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "GATEHOUSE_ISSUER="+issuer, "ROUTE="+route, "LISTEN="+addr)
		return cmd
	})
}

var jsBlock = regexp.MustCompile("(?s)### Node \\(jose\\)\n.*?```js\n(.*?)```")

// The Node example of docs/upstream.md is examples/upstream-node/server.mjs
// and it runs the same way, with jose installed by npm ci from its
// package-lock.json. It needs node and npm (scripts/browser.sh installs
// them for make test).
func TestUpstreamNodeExampleRuns(t *testing.T) {
	m := jsBlock.FindStringSubmatch(repoFile(t, "docs/upstream.md"))
	if m == nil {
		t.Fatal("docs/upstream.md has no Node example")
	}
	if m[1] != repoFile(t, "examples/upstream-node/server.mjs") {
		t.Fatal("the Node example in docs/upstream.md differs from examples/upstream-node/server.mjs")
	}
	node, errNode := exec.LookPath("node")
	_, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		if gatewaytest.RequireServers() {
			t.Fatal("node and npm are needed for the Node example (scripts/browser.sh installs them)")
		}
		t.Skip("node or npm not installed")
	}
	dir := t.TempDir()
	for _, f := range []string{"server.mjs", "package.json", "package-lock.json"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(repoFile(t, "examples/upstream-node/"+f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	runExample(t, func(issuer, route, addr string) *exec.Cmd {
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(node, "server.mjs")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GATEHOUSE_ISSUER="+issuer, "ROUTE="+route, "PORT="+port)
		return cmd
	})
}

// runExample starts the example that start gives as the upstream of an
// optional route, then checks that it refuses a request without a
// session and greets a signed-in caller by the id of a real assertion.
func runExample(t *testing.T, start func(issuer, route, addr string) *exec.Cmd) {
	t.Helper()
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
	cmd := start(s.Base, "example", addr)
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
