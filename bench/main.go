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
// during (b) (pooling), and allocations per proxied request from the Go
// benchmark in package gateway/engine.
//
//	go run ./bench [-d 10s] [-c 64] [-t 2] [-redis redis://127.0.0.1:6379/0]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
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

	// The upstream: a small fasthttp server answering 200 with a short body.
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var upConns atomic.Int64
	body := []byte(`{"hello":"world","items":[1,2,3,4,5,6,7,8,9,10]}`)
	up := &fasthttp.Server{
		Handler: func(c *fasthttp.RequestCtx) {
			c.SetContentType("application/json")
			c.SetBody(body)
		},
		ConnState: func(_ net.Conn, s fasthttp.ConnState) {
			if s == fasthttp.StateNew {
				upConns.Add(1)
			}
		},
	}
	go func() { _ = up.Serve(upLn) }()
	defer up.Shutdown()
	upURL := "http://" + upLn.Addr().String()

	gwPort, err := freePort()
	if err != nil {
		return err
	}
	gwAddr := fmt.Sprintf("127.0.0.1:%d", gwPort)
	mPort, err := freePort()
	if err != nil {
		return err
	}
	metricsAddr = fmt.Sprintf("127.0.0.1:%d", mPort)
	cfg := fmt.Sprintf(`server:
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
`, gwAddr, gwAddr, time.Now().UnixNano(), tmp, redisURL, metricsAddr, upURL, upURL)
	cfgPath := filepath.Join(tmp, "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(tmp, "gatehouse.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	gw := exec.Command(bin, "serve", "--config", cfgPath)
	gw.Dir = tmp
	gw.Env = append(os.Environ(), "GATEHOUSE_LOG_LEVEL=warn")
	if profileDir != "" {
		gw.Env = append(gw.Env, "GATEHOUSE_PPROF=1")
	}
	gw.Stdout, gw.Stderr = logf, logf
	if err := gw.Start(); err != nil {
		return err
	}
	defer func() { _ = gw.Process.Kill(); _, _ = gw.Process.Wait() }()
	if err := waitHealthy("http://"+gwAddr+"/healthz", 30*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(tmp, "gatehouse.log"))
		return fmt.Errorf("gatehouse did not start: %v\n%s", err, log)
	}

	// A user and a session for (c) and (d).
	const email, pass = "bench@example.com", "Bench-Password-1"
	mk := exec.Command(bin, "user", "create", "--config", cfgPath, "--email", email, "--password", pass)
	mk.Dir = tmp
	if out, err := mk.CombinedOutput(); err != nil {
		return fmt.Errorf("user create: %v\n%s", err, out)
	}
	cookie, err := login("http://"+gwAddr, email, pass)
	if err != nil {
		return err
	}
	sessHdr := []string{"-H", "Cookie: " + cookie}
	access, err := loginToken("http://"+gwAddr, email, pass)
	if err != nil {
		return err
	}
	bearerHdr := []string{"-H", "Authorization: Bearer " + access}
	verifyHdr := append([]string{"-H", "X-Forwarded-Uri: /app/items", "-H", "X-Forwarded-Host: " + gwAddr,
		"-H", "X-Forwarded-Method: GET"}, sessHdr...)

	// Warm up every path (connection pools, caches).
	for _, w := range []struct {
		url string
		h   []string
	}{{upURL + "/", nil}, {"http://" + gwAddr + "/", nil}, {"http://" + gwAddr + "/app/", sessHdr}, {"http://" + gwAddr + "/auth/verify", verifyHdr}} {
		_, _ = wrk(w.url, 2*time.Second, conns, threads, w.h...)
	}

	a, err := wrk(upURL+"/", dur, conns, threads)
	if err != nil {
		return err
	}
	a.name = "(a) upstream directly"

	pid := gw.Process.Pid
	c0 := upConns.Load()
	b, err := measured(pid, "(b) through a public route", "http://"+gwAddr+"/", dur, conns, threads)
	if err != nil {
		return err
	}
	b.newConns = upConns.Load() - c0
	c, err := measured(pid, "(c) required route + session", "http://"+gwAddr+"/app/", dur, conns, threads, sessHdr...)
	if err != nil {
		return err
	}
	d, err := measured(pid, "(d) forward-auth check", "http://"+gwAddr+"/auth/verify", dur, conns, threads, verifyHdr...)
	if err != nil {
		return err
	}
	e, err := measured(pid, "(e) bearer + assertion", "http://"+gwAddr+"/app/", dur, conns, threads, bearerHdr...)
	if err != nil {
		return err
	}

	allocs, nsop, err := goBench("BenchmarkProxyPublic")
	if err != nil {
		return err
	}

	fmt.Println()
	fmt.Printf("wrk -t%d -c%d -d%s, %d-core machine (load generator, proxy and upstream share the cores)\n\n", threads, conns, dur, numCPU())
	fmt.Printf("%-30s %12s %10s %10s %16s %14s\n", "scenario", "req/s", "p50", "p99", "gatehouse CPU/op", "upstream conns")
	for _, r := range []result{a, b, c, d, e} {
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
	fmt.Printf("allocations per proxied request (Go benchmark): %d allocs/op, %s  (goal <= 10)\n", allocs, nsop)
	fmt.Printf("upstream connections opened during (b): %d for %d requests  (goal: pooled, <= %d)\n", b.newConns, b.requests, conns)
	return nil
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

var (
	reRPS  = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reReqs = regexp.MustCompile(`(\d+) requests in`)
	reP50  = regexp.MustCompile(`\s50%\s+([\d.]+)(us|ms|s)`)
	reP99  = regexp.MustCompile(`\s99%\s+([\d.]+)(us|ms|s)`)
	reErr  = regexp.MustCompile(`(Socket errors:.*|Non-2xx or 3xx responses: \d+)`)
)

// metricsAddr is Gatehouse's metrics listener (profiles with -profile).
var metricsAddr string

// measured is one wrk run with the Gatehouse process's CPU per request.
func measured(pid int, name, url string, d time.Duration, conns, threads int, hdr ...string) (result, error) {
	if profileDir != "" {
		file := filepath.Join(profileDir, name[1:2]+".pprof")
		go func() {
			res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", metricsAddr, int(d.Seconds())-1))
			if err != nil {
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			_ = os.WriteFile(file, b, 0o644)
		}()
	}
	cpu0, err := procCPU(pid)
	if err != nil {
		return result{}, err
	}
	r, err := wrk(url, d, conns, threads, hdr...)
	if err != nil {
		return r, err
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return r, err
	}
	r.name = name
	if r.requests > 0 {
		r.cpuPerOp = (cpu1 - cpu0) / time.Duration(r.requests)
	}
	return r, nil
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

// wrk runs wrk --latency and parses its report.
func wrk(url string, d time.Duration, conns, threads int, hdr ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	args := append([]string{"--latency", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds()))}, hdr...)
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	s := string(out)
	var r result
	if m := reRPS.FindStringSubmatch(s); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reReqs.FindStringSubmatch(s); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	r.p50 = parseLatency(reP50.FindStringSubmatch(s))
	r.p99 = parseLatency(reP99.FindStringSubmatch(s))
	if m := reErr.FindAllString(s, -1); m != nil {
		r.errors = strings.Join(m, "; ")
	}
	if r.requests == 0 {
		return r, fmt.Errorf("wrk %s: no requests in output:\n%s", url, s)
	}
	return r, nil
}

func parseLatency(m []string) time.Duration {
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
	return time.Duration(v * float64(unit)).Round(time.Microsecond)
}

// procCPU is the user+system CPU time of pid so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are 14 and 15.
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck, nil
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

// goBench runs one Go benchmark of package gateway/engine and returns allocs/op.
func goBench(name string) (int, string, error) {
	out, err := exec.Command("go", "test", "-run", "^$", "-bench", "^"+name+"$", "-benchmem", "-benchtime", "20000x", "./gateway/engine").CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("go test -bench %s: %v\n%s", name, err, out)
	}
	m := reAllocs.FindStringSubmatch(string(out))
	if m == nil {
		return 0, "", fmt.Errorf("no allocs/op in:\n%s", out)
	}
	n, _ := strconv.Atoi(m[2])
	return n, m[1] + " ns/op", nil
}
