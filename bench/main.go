// Command bench measures the proxy: it builds gatehouse, starts a small
// upstream and a Gatehouse on the embedded default, and prints, in one run,
// requests/s and p50/p99 latency for (a) the upstream directly and (b) the
// same request through a public route (wrk, 2 threads, 64 connections),
// the CPU time the Gatehouse process spent per proxied request (from
// /proc before and after the run), the upstream connections opened during
// the run (pooling), and allocations per proxied request from the Go
// benchmark in package gateway.
//
//	go run ./bench [-d 10s] [-c 64] [-t 2]
package main

import (
	"bufio"
	"context"
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
	flag.Parse()
	if err := run(*dur, *conns, *threads); err != nil {
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

func run(dur time.Duration, conns, threads int) error {
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
	cfg := fmt.Sprintf(`server:
  listen: %q
  public_url: "http://%s"
secret: "bench-secret-bench-secret-bench-secret-0123"
database: { driver: sqlite, dsn: "file:%s/bench.db", auto_migrate: true }
mail: { driver: log }
routes:
  - name: public
    path: /
    upstream: %q
    auth: public
`, gwAddr, gwAddr, tmp, upURL)
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
	gw.Stdout, gw.Stderr = logf, logf
	if err := gw.Start(); err != nil {
		return err
	}
	defer func() { _ = gw.Process.Kill(); _, _ = gw.Process.Wait() }()
	if err := waitHealthy("http://"+gwAddr+"/healthz", 30*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(tmp, "gatehouse.log"))
		return fmt.Errorf("gatehouse did not start: %v\n%s", err, log)
	}

	// Warm up both paths (connection pools, JIT-free but caches).
	_, _ = wrk(upURL+"/", 2*time.Second, conns, threads)
	_, _ = wrk("http://"+gwAddr+"/", 2*time.Second, conns, threads)

	a, err := wrk(upURL+"/", dur, conns, threads)
	if err != nil {
		return err
	}
	a.name = "(a) upstream directly"

	cpu0, err := procCPU(gw.Process.Pid)
	if err != nil {
		return err
	}
	c0 := upConns.Load()
	b, err := wrk("http://"+gwAddr+"/", dur, conns, threads)
	if err != nil {
		return err
	}
	cpu1, _ := procCPU(gw.Process.Pid)
	b.name = "(b) through a public route"
	b.newConns = upConns.Load() - c0
	if b.requests > 0 {
		b.cpuPerOp = (cpu1 - cpu0) / time.Duration(b.requests)
	}

	allocs, nsop, err := goBench("BenchmarkProxyPublic")
	if err != nil {
		return err
	}

	fmt.Println()
	fmt.Printf("wrk -t%d -c%d -d%s, %d-core machine (load generator, proxy and upstream share the cores)\n\n", threads, conns, dur, numCPU())
	fmt.Printf("%-30s %12s %10s %10s %16s %14s\n", "scenario", "req/s", "p50", "p99", "gatehouse CPU/op", "upstream conns")
	for _, r := range []result{a, b} {
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
	ratio := b.rps / a.rps
	fmt.Println()
	fmt.Printf("(b)/(a) throughput ratio: %.2f  (goal >= 0.40)\n", ratio)
	fmt.Printf("Gatehouse CPU per proxied request: %.1f µs  (goal <= 50 µs)\n", float64(b.cpuPerOp.Nanoseconds())/1000)
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

// wrk runs wrk --latency and parses its report.
func wrk(url string, d time.Duration, conns, threads int) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "wrk", "--latency", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), url).CombinedOutput()
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

// goBench runs one Go benchmark of package gateway and returns allocs/op.
func goBench(name string) (int, string, error) {
	out, err := exec.Command("go", "test", "-run", "^$", "-bench", "^"+name+"$", "-benchmem", "-benchtime", "20000x", "./gateway").CombinedOutput()
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
