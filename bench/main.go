// Command bench measures the proxy: it builds gatehouse, starts a small
// upstream and a Gatehouse whose sessions live in Redis, and prints, in one
// run, requests/s and p50/p99 latency (wrk, 2 threads, 64 connections) for
//
//	(a) the upstream directly,
//	(b) the same request through a public route,
//	(c) the same request through a required route with a valid session,
//	(d) GET {auth_prefix}/verify forward-auth checks with that session,
//	(e) the request of (b) through the required route with a bearer access
//	    token, X-Auth-Assertion signed for the upstream,
//
// the CPU time the Gatehouse process spent per request in (b), (c) and (d)
// (from /proc before and after each run), the upstream connections opened
// during (b) (pooling), allocations per proxied request from the Go
// benchmark in package gateway/engine, and the pipeline's cost with 20
// routes of 3 plugins each (BenchmarkPipelineManyRoutes).
//
//	go run ./bench [-d 10s] [-c 64] [-t 2] [-redis redis://127.0.0.1:6379/0]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	dur := flag.Duration("d", 10*time.Second, "wrk duration per scenario")
	conns := flag.Int("c", 64, "wrk connections")
	threads := flag.Int("t", 2, "wrk threads")
	flag.StringVar(&profileDir, "profile", "", "write a CPU profile of Gatehouse during (b), (c) and (d) to this directory")
	redisURL := flag.String("redis", envOr("GATEHOUSE_BENCH_REDIS", "redis://127.0.0.1:6379/0"), "Redis for the sessions")
	flag.Parse()
	if err := run(*dur, *conns, *threads, *redisURL); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one wrk run.
type result struct {
	name     string
	rps      float64
	p50, p99 time.Duration
	requests int64
	errors   string
	cpuPerOp time.Duration // Gatehouse CPU per request, when measured
	newConns int64         // upstream connections opened during the run
}

// profileDir, when set, receives b.pprof, c.pprof and d.pprof.
var profileDir string

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(dur time.Duration, conns, threads int, redisURL string) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk is not installed (Debian: apt-get install wrk)")
	}
	tmp, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Println("building gatehouse ...")
	bin := filepath.Join(tmp, "gatehouse")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	up, err := startUpstream()
	if err != nil {
		return err
	}
	defer up.srv.Shutdown()
	gw, err := startGatehouse(bin, tmp, up.url, redisURL)
	if err != nil {
		return err
	}
	defer gw.stop()
	results, err := scenarios(gw, up, dur, conns, threads)
	if err != nil {
		return err
	}
	var figs [2]goFigures
	for i, name := range []string{"BenchmarkProxyPublic", "BenchmarkPipelineManyRoutes"} {
		if figs[i], err = goBench(name); err != nil {
			return err
		}
	}
	report(results, figs, dur, conns, threads)
	return nil
}

// upstream is the benchmark's upstream: a small fasthttp server answering
// 200 with a short body, counting the connections it accepts.
type upstream struct {
	srv   *fasthttp.Server
	url   string
	conns atomic.Int64
}

func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{url: "http://" + ln.Addr().String()}
	body := []byte(`{"hello":"world","items":[1,2,3,4,5,6,7,8,9,10]}`)
	u.srv = &fasthttp.Server{
		Handler: func(c *fasthttp.RequestCtx) {
			c.SetContentType("application/json")
			c.SetBody(body)
		},
		ConnState: func(_ net.Conn, s fasthttp.ConnState) {
			if s == fasthttp.StateNew {
				u.conns.Add(1)
			}
		},
	}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

// gatehouse is the running Gatehouse under test.
type gatehouse struct {
	proc    *exec.Cmd
	base    string // http://host:port
	addr    string
	bin     string
	dir     string
	cfgPath string
}

func (g *gatehouse) stop() { _ = g.proc.Process.Kill(); _, _ = g.proc.Process.Wait() }

// startGatehouse writes the config (a public and a required route to the
// upstream, sessions in Redis) and starts bin serve until it is healthy.
func startGatehouse(bin, tmp, upURL, redisURL string) (*gatehouse, error) {
	gwPort, err := freePort()
	if err != nil {
		return nil, err
	}
	mPort, err := freePort()
	if err != nil {
		return nil, err
	}
	g := &gatehouse{addr: fmt.Sprintf("127.0.0.1:%d", gwPort), bin: bin, dir: tmp, cfgPath: filepath.Join(tmp, "gateway.yaml")}
	g.base = "http://" + g.addr
	metricsAddr = fmt.Sprintf("127.0.0.1:%d", mPort)
	cfg := fmt.Sprintf(benchConfig, g.addr, g.addr, time.Now().UnixNano(), tmp, redisURL, metricsAddr, upURL, upURL)
	if err := os.WriteFile(g.cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(tmp, "gatehouse.log"))
	if err != nil {
		return nil, err
	}
	g.proc = exec.Command(bin, "serve", "--config", g.cfgPath)
	g.proc.Dir = tmp
	g.proc.Env = append(os.Environ(), "GATEHOUSE_LOG_LEVEL=warn")
	if profileDir != "" {
		g.proc.Env = append(g.proc.Env, "GATEHOUSE_PPROF=1")
	}
	g.proc.Stdout, g.proc.Stderr = logf, logf
	if err := g.proc.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	logf.Close() // the child has its own descriptor
	if err := waitHealthy(g.base+"/healthz", 30*time.Second); err != nil {
		g.stop()
		log, _ := os.ReadFile(filepath.Join(tmp, "gatehouse.log"))
		return nil, fmt.Errorf("gatehouse did not start: %v\n%s", err, log)
	}
	return g, nil
}

const benchConfig = `server:
  listen: %q
  public_url: "http://%s"
secret: "bench-secret-%d-bench-secret-bench-secret-0123"
database: { driver: sqlite, dsn: "file:%s/bench.db", auto_migrate: true }
redis: { url: %q }
metrics: { listen: %q }
mail: { driver: log }
accounts: { require_email_verification: false }
rate_limits: { login: 1000/m }
routes:
  - name: public
    path: /
    upstream: %q
    auth: public
  - name: app
    path: /app
    upstream: %q
    auth: required
`

// scenarios creates a user, signs in (cookie and token), warms every path
// up, then runs (a) to (e).
func scenarios(gw *gatehouse, up *upstream, dur time.Duration, conns, threads int) ([]result, error) {
	const email, pass = "bench@example.com", "Bench-Password-1"
	mk := exec.Command(gw.bin, "user", "create", "--config", gw.cfgPath, "--email", email, "--password", pass)
	mk.Dir = gw.dir
	if out, err := mk.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("user create: %v\n%s", err, out)
	}
	cookie, err := login(gw.base, email, pass)
	if err != nil {
		return nil, err
	}
	sessHdr := []string{"-H", "Cookie: " + cookie}
	access, err := loginToken(gw.base, email, pass)
	if err != nil {
		return nil, err
	}
	bearerHdr := []string{"-H", "Authorization: Bearer " + access}
	verifyHdr := append([]string{"-H", "X-Forwarded-Uri: /app/items", "-H", "X-Forwarded-Host: " + gw.addr,
		"-H", "X-Forwarded-Method: GET"}, sessHdr...)

	// Warm up every path (connection pools, caches).
	for _, w := range []struct {
		url string
		h   []string
	}{{up.url + "/", nil}, {gw.base + "/", nil}, {gw.base + "/app/", sessHdr}, {gw.base + "/auth/verify", verifyHdr}} {
		_, _ = wrk(w.url, 2*time.Second, conns, threads, w.h...)
	}

	a, err := wrk(up.url+"/", dur, conns, threads)
	if err != nil {
		return nil, err
	}
	a.name = "(a) upstream directly"
	out := []result{a}
	pid := gw.proc.Process.Pid
	for _, sc := range []struct {
		name, url string
		hdr       []string
	}{
		{"(b) through a public route", gw.base + "/", nil},
		{"(c) required route + session", gw.base + "/app/", sessHdr},
		{"(d) forward-auth check", gw.base + "/auth/verify", verifyHdr},
		{"(e) bearer + assertion", gw.base + "/app/", bearerHdr},
	} {
		c0 := up.conns.Load()
		r, err := measured(pid, sc.name, sc.url, dur, conns, threads, sc.hdr...)
		if err != nil {
			return nil, err
		}
		r.newConns = up.conns.Load() - c0
		out = append(out, r)
	}
	return out, nil
}

// report prints the table and the goals; results are (a) to (e).
func report(results []result, figs [2]goFigures, dur time.Duration, conns, threads int) {
	a, b, c, d, e := results[0], results[1], results[2], results[3], results[4]
	fmt.Println()
	fmt.Printf("wrk -t%d -c%d -d%s, %d-core machine (load generator, proxy and upstream share the cores)\n\n", threads, conns, dur, numCPU())
	fmt.Printf("%-30s %12s %10s %10s %16s %14s\n", "scenario", "req/s", "p50", "p99", "gatehouse CPU/op", "upstream conns")
	for _, r := range results {
		cpu, nc := "-", "-"
		if r.cpuPerOp > 0 {
			cpu = fmt.Sprintf("%.1f µs", float64(r.cpuPerOp.Nanoseconds())/1000)
			nc = strconv.FormatInt(r.newConns, 10)
		}
		fmt.Printf("%-30s %12.0f %10s %10s %16s %14s\n", r.name, r.rps, r.p50, r.p99, cpu, nc)
		if r.errors != "" {
			fmt.Printf("   errors: %s\n", r.errors)
		}
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	fmt.Println()
	fmt.Printf("(b)/(a) throughput ratio: %.2f  (goal >= 0.40)\n", b.rps/a.rps)
	fmt.Printf("(c)/(b) throughput ratio: %.2f  (goal >= 0.85)\n", c.rps/b.rps)
	fmt.Printf("(e)/(b) throughput ratio: %.2f  (goal >= 0.80)\n", e.rps/b.rps)
	fmt.Printf("Gatehouse CPU per public proxied request (b): %.1f µs  (goal <= 50 µs)\n", us(b.cpuPerOp))
	fmt.Printf("Gatehouse CPU per authenticated proxied request (c): %.1f µs  (goal <= 80 µs)\n", us(c.cpuPerOp))
	fmt.Printf("Gatehouse CPU per forward-auth check (d): %.1f µs  (goal <= 40 µs)\n", us(d.cpuPerOp))
	fmt.Printf("Gatehouse CPU per bearer request with assertion (e): %.1f µs\n", us(e.cpuPerOp))
	fmt.Printf("allocations per proxied request (Go benchmark): %d allocs/op, %s  (goal <= 10)\n", figs[0].allocs, figs[0].nsop)
	fmt.Printf("pipeline, 20 routes x 3 plugins, no upstream (Go benchmark): %s, %d allocs/op\n", figs[1].nsop, figs[1].allocs)
	fmt.Printf("upstream connections opened during (b): %d for %d requests  (goal: pooled, <= %d)\n", b.newConns, b.requests, conns)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitHealthy(url string, limit time.Duration) error {
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

// login signs in and returns the session cookie ("name=value").
func login(base, email, pass string) (string, error) {
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, pass)
	res, err := http.Post(base+"/auth/login", "application/json", strings.NewReader(body))
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

// loginToken signs in in token mode and returns the access token.
func loginToken(base, email, pass string) (string, error) {
	body := fmt.Sprintf(`{"email":%q,"password":%q,"session":"token"}`, email, pass)
	res, err := http.Post(base+"/auth/login", "application/json", strings.NewReader(body))
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

func numCPU() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "processor") {
			n++
		}
	}
	return n
}

var reAllocs = regexp.MustCompile(`\s([\d.]+) ns/op.*?\s(\d+) allocs/op`)

// goFigures are one Go benchmark's figures.
type goFigures struct {
	allocs int
	nsop   string
}

// goBench runs one Go benchmark of package gateway/engine.
func goBench(name string) (goFigures, error) {
	out, err := exec.Command("go", "test", "-run", "^$", "-bench", "^"+name+"$", "-benchmem", "-benchtime", "20000x", "./gateway/engine").CombinedOutput()
	if err != nil {
		return goFigures{}, fmt.Errorf("go test -bench %s: %v\n%s", name, err, out)
	}
	m := reAllocs.FindStringSubmatch(string(out))
	if m == nil {
		return goFigures{}, fmt.Errorf("no allocs/op in:\n%s", out)
	}
	n, _ := strconv.Atoi(m[2])
	return goFigures{allocs: n, nsop: m[1] + " ns/op"}, nil
}
