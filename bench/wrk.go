package main

// Running wrk and reading the CPU time of the process under test.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

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
