// Command soak runs Gatehouse under a steady mixed load for a bounded time
// and watches its memory: it builds gatehouse, starts an upstream in this
// process and Gatehouse as a child (sessions in Redis), measures first the
// memory of -idle abandoned connections alone (no load, no sign-in yet: an
// Argon2 hash allocates tens of MiB, which would blur the figure), then
// drives, until -d has passed,
//
//   - logins (POST /auth/login, cookie and token mode, one worker),
//   - cookie and bearer requests to a required route and public requests
//     (-workers workers sharing -rps requests/s),
//   - -idle abandoned keep-alive connections: each sends one request and then
//     never reads or closes; when Gatehouse closes one (idle timeout, per-IP
//     cap) the attacker notices the FIN and dials a new one, so -idle stay
//     open as long as Gatehouse lets them. They come from -idle-per-ip
//     connections per source address in 127.1.0.0/16 (untrusted peers; the
//     load comes from 127.0.0.1, a trusted proxy),
//   - once, a per-IP probe: -probe concurrent connections from 127.2.0.1,
//     counting the ones Gatehouse answers and the ones it refuses.
//
// Every -interval it prints the elapsed time, requests done, 5xx and
// transport errors, Gatehouse's RSS (VmRSS of the child), its goroutines
// (go_goroutines on the metrics listener) and its open client connections
// (ESTABLISHED sockets on the listen port, from /proc/net/tcp), and the Go
// heap in use plus goroutine stacks (go_memstats_*). At the end it closes the
// abandoned connections, stops the load, waits -release and prints a
// summary: KiB per idle connection, RSS over the run, RSS after the release.
//
//	go run ./bench/soak [-d 3m] [-idle 3000] [-idle-per-ip 20] [-rps 800]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"gatehouse/bench/stack"
)

type options struct {
	dur, interval, release time.Duration
	idle, idlePerIP, probe int
	workers, rps           int
	redisURL, server       string
}

func main() {
	var o options
	flag.DurationVar(&o.dur, "d", 3*time.Minute, "how long to drive the load")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "how often to print a line")
	flag.DurationVar(&o.release, "release", 30*time.Second, "how long to watch RSS after the abandoned connections are closed")
	flag.IntVar(&o.idle, "idle", 3000, "abandoned keep-alive connections to hold open")
	flag.IntVar(&o.idlePerIP, "idle-per-ip", 20, "abandoned connections per source address")
	flag.IntVar(&o.probe, "probe", 300, "concurrent connections of the per-IP probe (0 = none)")
	flag.IntVar(&o.workers, "workers", 8, "request workers")
	flag.IntVar(&o.rps, "rps", 800, "requests/s of the workers together (0 = as fast as they can)")
	flag.StringVar(&o.redisURL, "redis", envOr("GATEHOUSE_BENCH_REDIS", "redis://127.0.0.1:6379/0"), "Redis for the sessions")
	flag.StringVar(&o.server, "server", "", "extra server keys, YAML flow style without braces (e.g. \"idle_timeout: 120s\")")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

const soakConfig = `server: { listen: %q, public_url: "http://%s", trusted_proxies: [127.0.0.1/32]%s }
secret: "soak-secret-%d-soak-secret-soak-secret-0123"
database: { driver: sqlite, dsn: "file:%s/soak.db", auto_migrate: true }
redis: { url: %q }
metrics: { listen: %q }
mail: { driver: log }
accounts: { require_email_verification: false }
rate_limits: { login: 100000/m }
routes:
  - { name: public, path: /, upstream: %q, auth: public }
  - { name: app, path: /app, upstream: %q, auth: required }
`

const email, pass = "soak@example.com", "Soak-Password-1"

func run(o options) error {
	tmp, err := os.MkdirTemp("", "gatehouse-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Println("building gatehouse ...")
	bin, err := stack.Build(tmp)
	if err != nil {
		return err
	}
	upURL, stopUp, err := startUpstream()
	if err != nil {
		return err
	}
	defer stopUp()
	gwPort, err := stack.FreePort()
	if err != nil {
		return err
	}
	mPort, err := stack.FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", gwPort)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", mPort)
	extra := ""
	if o.server != "" {
		extra = ", " + o.server
	}
	cfg := fmt.Sprintf(soakConfig, addr, addr, extra, time.Now().UnixNano(), tmp, o.redisURL, metricsAddr, upURL, upURL)
	gw, err := stack.Start(bin, tmp, addr, cfg)
	if err != nil {
		return err
	}
	defer gw.Stop()
	if err := gw.CreateUser(email, pass); err != nil {
		return err
	}
	w := &watch{pid: gw.Pid(), port: gwPort, metrics: "http://" + metricsAddr + "/metrics"}
	return soak(o, gw, w)
}

// startUpstream is a small fasthttp server answering 200 with a short body.
func startUpstream() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	body := []byte(`{"hello":"world","items":[1,2,3,4,5,6,7,8,9,10]}`)
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		c.SetContentType("application/json")
		c.SetBody(body)
	}}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Shutdown() }, nil
}

// counts are the load's running totals.
type counts struct {
	requests, logins, status5xx, other, transport atomic.Int64
}

func soak(o options, gw *stack.Gatehouse, w *watch) error {
	var c counts
	start := time.Now()
	line := func(note string) sample {
		s := w.sample()
		fmt.Printf("%7s  requests %8d  logins %4d  5xx %d  other-non-2xx %d  errors %d  rss %6.1f MiB  go-heap+stacks %6.1f MiB  goroutines %5d  conns %5d%s\n",
			time.Since(start).Round(time.Second), c.requests.Load(), c.logins.Load(), c.status5xx.Load(), c.other.Load(),
			c.transport.Load(), mib(s.rss), mib(s.goMem), s.goroutines, s.conns, note)
		return s
	}

	// Quiet phase: the abandoned connections alone, before any sign-in
	// (an Argon2 hash allocates tens of MiB, which would blur the figure).
	time.Sleep(2 * time.Second)
	fresh := line("  (fresh, no load)")
	stop := make(chan struct{})
	a := newAttacker(gw.Addr, o.idle, o.idlePerIP)
	go a.hold(stop)
	for t0 := time.Now(); a.open.Load() < int64(o.idle) && time.Since(t0) < 30*time.Second; {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)
	quiet := line(fmt.Sprintf("  (%d abandoned open, no load)", a.open.Load()))

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.workers + 2}}
	cookie, err := stack.Login(hc, gw.Base, email, pass)
	if err != nil {
		return err
	}
	bearer, err := stack.LoginToken(hc, gw.Base, email, pass)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(o.workers + 1)
	go func() { defer wg.Done(); logins(hc, gw.Base, &c, stop) }()
	tick := pace(o.rps, stop)
	for i := range o.workers {
		go func() { defer wg.Done(); requests(hc, gw.Base, cookie, bearer, i, &c, tick, stop) }()
	}
	probeOK, probeRefused := 0, 0
	if o.probe > 0 {
		probeOK, probeRefused = probe(gw.Addr, o.probe)
		fmt.Printf("per-IP probe: %d concurrent connections from 127.2.0.1: %d answered 2xx, %d refused\n", o.probe, probeOK, probeRefused)
	}
	var samples []sample
	next := time.Now().Add(o.interval)
	for time.Since(start) < o.dur {
		time.Sleep(time.Until(next))
		next = next.Add(o.interval)
		samples = append(samples, line(fmt.Sprintf("  abandoned %d (server closed %d, dials failed %d)", a.open.Load(), a.closed.Load(), a.failed.Load())))
	}
	close(stop)
	wg.Wait()
	a.closeAll()
	end := time.Now().Add(o.release)
	for time.Until(end) > o.interval {
		time.Sleep(o.interval)
		line("  (abandoned closed, load stopped)")
	}
	time.Sleep(time.Until(end))
	after := line("  (abandoned closed, load stopped)")
	summary(o, &c, time.Since(start), fresh, quiet, samples, after, probeOK, probeRefused)
	if c.status5xx.Load() > 0 {
		return fmt.Errorf("%d responses were 5xx", c.status5xx.Load())
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func summary(o options, c *counts, el time.Duration, fresh, quiet sample, samples []sample, after sample, pOK, pRef int) {
	fmt.Println()
	fmt.Printf("soak: %s, %d requests (%d logins), %d 5xx, %d other non-2xx, %d transport errors\n",
		el.Round(time.Second), c.requests.Load(), c.logins.Load(), c.status5xx.Load(), c.other.Load(), c.transport.Load())
	if n := quiet.conns - fresh.conns; n > 0 {
		fmt.Printf("idle connections, no load: RSS %.1f MiB fresh, %.1f MiB with %d abandoned: %.1f KiB per idle connection (Go heap+stacks: %.1f KiB)\n",
			mib(fresh.rss), mib(quiet.rss), n, float64(quiet.rss-fresh.rss)/1024/float64(n), float64(quiet.goMem-fresh.goMem)/1024/float64(n))
	}
	if len(samples) > 0 {
		lo, hi := samples[0].rss, samples[0].rss
		for _, s := range samples {
			lo, hi = min(lo, s.rss), max(hi, s.rss)
		}
		first, last := samples[0], samples[len(samples)-1]
		fmt.Printf("under load with the abandoned connections: RSS min %.1f MiB, max %.1f MiB, first %.1f, last %.1f (%+.1f%%); goroutines first %d, last %d\n",
			mib(lo), mib(hi), mib(first.rss), mib(last.rss), 100*float64(last.rss-first.rss)/float64(first.rss), first.goroutines, last.goroutines)
	}
	fmt.Printf("%s after the abandoned connections closed and the load stopped: RSS %.1f MiB, %d connections, %d goroutines\n",
		o.release, mib(after.rss), after.conns, after.goroutines)
	if o.probe > 0 {
		fmt.Printf("per-IP probe: %d of %d concurrent connections from one address answered, %d refused\n", pOK, o.probe, pRef)
	}
}

// pace yields rps ticks per second (closed channel: unpaced).
func pace(rps int, stop chan struct{}) <-chan struct{} {
	ch := make(chan struct{})
	if rps <= 0 {
		close(ch)
		return ch
	}
	go func() {
		t := time.NewTicker(time.Second / time.Duration(rps))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch
}

// requests sends cookie, bearer and public requests in turn.
func requests(hc *http.Client, base, cookie, bearer string, i int, c *counts, tick <-chan struct{}, stop chan struct{}) {
	for n := i; ; n++ {
		select {
		case <-stop:
			return
		case <-tick:
		}
		url := base + "/app/items"
		req, _ := http.NewRequest("GET", url, nil)
		switch n % 3 {
		case 0:
			req.Header.Set("Cookie", cookie)
		case 1:
			req.Header.Set("Authorization", "Bearer "+bearer)
		default:
			req.URL.Path = "/public"
		}
		do(hc, req, c)
	}
}

// logins signs in, cookie and token mode in turn, twice a second.
func logins(hc *http.Client, base string, c *counts, stop chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		mode := ""
		if n%2 == 1 {
			mode = `,"session":"token"`
		}
		req, _ := http.NewRequest("POST", base+"/auth/login", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q%s}`, email, pass, mode)))
		req.Header.Set("Content-Type", "application/json")
		do(hc, req, c)
		c.logins.Add(1)
	}
}

func do(hc *http.Client, req *http.Request, c *counts) {
	res, err := hc.Do(req)
	c.requests.Add(1)
	if err != nil {
		c.transport.Add(1)
		return
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	switch {
	case res.StatusCode >= 500:
		c.status5xx.Add(1)
	case res.StatusCode >= 300:
		c.other.Add(1)
	}
}

// probe opens n connections from one address at once, sends a request on
// each and counts 2xx answers and refusals (another status, or closed).
func probe(addr string, n int) (ok, refused int) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 2, 0, 1)}, Timeout: 5 * time.Second}
	conns := make([]net.Conn, 0, n)
	for range n {
		cn, err := d.Dial("tcp", addr)
		if err != nil {
			refused++
			continue
		}
		conns = append(conns, cn)
	}
	for _, cn := range conns {
		_ = cn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = fmt.Fprintf(cn, "GET /probe HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	}
	for _, cn := range conns { // all stay open until every answer is read
		res, err := http.ReadResponse(bufio.NewReader(cn), nil)
		if err == nil && res.StatusCode < 300 {
			ok++
		} else {
			refused++
		}
	}
	for _, cn := range conns {
		cn.Close()
	}
	return ok, refused
}

// sample is one reading of the Gatehouse process.
type sample struct {
	rss        int64 // bytes
	goMem      int64 // Go heap in use + goroutine stacks, bytes
	goroutines int
	conns      int
}

// watch reads the child's RSS, goroutines and connections.
type watch struct {
	pid, port int
	metrics   string
}

func (w *watch) sample() sample {
	m := gauges(w.metrics, "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes")
	return sample{rss: vmRSS(w.pid), goMem: int64(m[1] + m[2]), goroutines: int(m[0]), conns: established(w.port)}
}

// vmRSS is VmRSS of /proc/PID/status, in bytes.
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// gauges reads the named unlabelled values from the Prometheus endpoint
// (-1 when missing).
func gauges(url string, names ...string) []float64 {
	out := make([]float64, len(names))
	for i := range out {
		out[i] = -1
	}
	res, err := http.Get(url)
	if err != nil {
		return out
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for i, n := range names {
			if n == name {
				out[i], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out
}

// established counts the server side of ESTABLISHED TCP connections on
// port (the socket's local port), from /proc/net/tcp.
func established(port int) int {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return -1
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) > 3 && fl[3] == "01" && strings.HasSuffix(fl[1], want) {
			n++
		}
	}
	return n
}
