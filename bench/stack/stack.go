// Package stack starts what the benchmark programs measure: it builds
// gatehouse, runs it as a child process with a given config until it is
// healthy, creates a user and signs in with cookies or tokens. bench (make
// bench) and bench/soak (make soak) share it.
package stack

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Build compiles ./cmd/gatehouse into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	return bin, nil
}

// Gatehouse is a running Gatehouse child process.
type Gatehouse struct {
	Proc    *exec.Cmd
	Base    string // http://host:port
	Addr    string // host:port
	Bin     string
	Dir     string
	CfgPath string
}

// Pid is the child's process id.
func (g *Gatehouse) Pid() int { return g.Proc.Process.Pid }

// Stop kills the child and waits for it.
func (g *Gatehouse) Stop() { _ = g.Proc.Process.Kill(); _, _ = g.Proc.Process.Wait() }

// Start writes cfg to dir/gateway.yaml and runs bin serve on addr (the
// config's server.listen) until /healthz answers. The child logs to
// dir/gatehouse.log at level warn; env is added to its environment.
func Start(bin, dir, addr, cfg string, env ...string) (*Gatehouse, error) {
	g := &Gatehouse{Addr: addr, Base: "http://" + addr, Bin: bin, Dir: dir, CfgPath: filepath.Join(dir, "gateway.yaml")}
	if err := os.WriteFile(g.CfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "gatehouse.log"))
	if err != nil {
		return nil, err
	}
	g.Proc = exec.Command(bin, "serve", "--config", g.CfgPath)
	g.Proc.Dir = dir
	g.Proc.Env = append(append(os.Environ(), "GATEHOUSE_LOG_LEVEL=warn"), env...)
	g.Proc.Stdout, g.Proc.Stderr = logf, logf
	if err := g.Proc.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	logf.Close() // the child has its own descriptor
	if err := WaitHealthy(g.Base+"/healthz", 30*time.Second); err != nil {
		g.Stop()
		log, _ := os.ReadFile(filepath.Join(dir, "gatehouse.log"))
		return nil, fmt.Errorf("gatehouse did not start: %v\n%s", err, log)
	}
	return g, nil
}

// CreateUser runs gatehouse user create (a verified user).
func (g *Gatehouse) CreateUser(email, pass string) error {
	mk := exec.Command(g.Bin, "user", "create", "--config", g.CfgPath, "--email", email, "--password", pass)
	mk.Dir = g.Dir
	if out, err := mk.CombinedOutput(); err != nil {
		return fmt.Errorf("user create: %v\n%s", err, out)
	}
	return nil
}

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitHealthy polls url until it answers 200 or limit has passed.
func WaitHealthy(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no 200 from %s within %s", url, limit)
}

// Login signs in with hc and returns the session cookie ("name=value").
func Login(hc *http.Client, base, email, pass string) (string, error) {
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, pass)
	res, err := hc.Post(base+"/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return "", fmt.Errorf("login: status %d", res.StatusCode)
	}
	for _, c := range res.Cookies() {
		if c.Name == "gatehouse_session" {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("login set no session cookie")
}

// LoginToken signs in with hc in token mode and returns the access token.
func LoginToken(hc *http.Client, base, email, pass string) (string, error) {
	body := fmt.Sprintf(`{"email":%q,"password":%q,"session":"token"}`, email, pass)
	res, err := hc.Post(base+"/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || out.AccessToken == "" {
		return "", fmt.Errorf("token login: status %d %v", res.StatusCode, err)
	}
	return out.AccessToken, nil
}
