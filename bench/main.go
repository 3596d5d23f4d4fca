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
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"gatehouse/bench/stack"
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
	bin, err := stack.Build(tmp)
	if err != nil {
		return err
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
	defer gw.Stop()
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

// startGatehouse writes the config (a public and a required route to the
// upstream, sessions in Redis) and starts bin serve until it is healthy.
func startGatehouse(bin, tmp, upURL, redisURL string) (*stack.Gatehouse, error) {
	gwPort, err := stack.FreePort()
	if err != nil {
		return nil, err
	}
	mPort, err := stack.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", gwPort)
	metricsAddr = fmt.Sprintf("127.0.0.1:%d", mPort)
	cfg := fmt.Sprintf(benchConfig, addr, addr, time.Now().UnixNano(), tmp, redisURL, metricsAddr, upURL, upURL)
	var env []string
	if profileDir != "" {
		env = append(env, "GATEHOUSE_PPROF=1")
	}
	return stack.Start(bin, tmp, addr, cfg, env...)
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
func scenarios(gw *stack.Gatehouse, up *upstream, dur time.Duration, conns, threads int) ([]result, error) {
	const email, pass = "bench@example.com", "Bench-Password-1"
	if err := gw.CreateUser(email, pass); err != nil {
		return nil, err
	}
	cookie, err := stack.Login(http.DefaultClient, gw.Base, email, pass)
	if err != nil {
		return nil, err
	}
	sessHdr := []string{"-H", "Cookie: " + cookie}
	access, err := stack.LoginToken(http.DefaultClient, gw.Base, email, pass)
	if err != nil {
		return nil, err
	}
	bearerHdr := []string{"-H", "Authorization: Bearer " + access}
	verifyHdr := append([]string{"-H", "X-Forwarded-Uri: /app/items", "-H", "X-Forwarded-Host: " + gw.Addr,
		"-H", "X-Forwarded-Method: GET"}, sessHdr...)

	// Warm up every path (connection pools, caches).
	for _, w := range []struct {
		url string
		h   []string
	}{{up.url + "/", nil}, {gw.Base + "/", nil}, {gw.Base + "/app/", sessHdr}, {gw.Base + "/auth/verify", verifyHdr}} {
		_, _ = wrk(w.url, 2*time.Second, conns, threads, w.h...)
	}

	a, err := wrk(up.url+"/", dur, conns, threads)
	if err != nil {
		return nil, err
	}
	a.name = "(a) upstream directly"
	out := []result{a}
	pid := gw.Pid()
	for _, sc := range []struct {
		name, url string
		hdr       []string
	}{
		{"(b) through a public route", gw.Base + "/", nil},
		{"(c) required route + session", gw.Base + "/app/", sessHdr},
		{"(d) forward-auth check", gw.Base + "/auth/verify", verifyHdr},
		{"(e) bearer + assertion", gw.Base + "/app/", bearerHdr},
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
