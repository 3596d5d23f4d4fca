package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to wait for the cluster

	"gatehouse/gateway/gatewaytest"
)

// Dependencies a test starts, kills and freezes itself: its own
// redis-server process and its own throw-away PostgreSQL cluster, never
// the shared servers. A missing binary skips the test, or fails it when
// servers are required (CI=true, GATEHOUSE_REQUIRE_SERVERS=1).

// needBinary is the path of a program, or the test stops.
func needBinary(t *testing.T, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		if gatewaytest.RequireServers() {
			t.Fatalf("%s is not installed", path)
		}
		t.Skipf("%s is not installed", path)
	}
	return p
}

// freePort is a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ownRedis is a redis-server process of one test, with an append-only
// file synced on every write: killed with SIGKILL and started again on
// the same port, it has every key back.
type ownRedis struct {
	t    *testing.T
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	r := &ownRedis{t: t, bin: needBinary(t, "redis-server"), port: freePort(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(func() {
		if r.cmd != nil {
			_ = r.cmd.Process.Signal(syscall.SIGCONT)
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	return r
}

func (r *ownRedis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	waitFor(r.t, "redis-server accepts connections", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// kill ends the server with SIGKILL (no shutdown, no save).
func (r *ownRedis) kill() {
	r.t.Helper()
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// freeze stops the process (SIGSTOP): connections stay open, nothing answers.
func (r *ownRedis) freeze() { _ = r.cmd.Process.Signal(syscall.SIGSTOP) }

// thaw resumes a frozen process.
func (r *ownRedis) thaw() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }

// ownPostgres is a PostgreSQL cluster of one test (initdb into a
// temporary directory, trust authentication, fsync off), run as the
// postgres user when the test runs as root (PostgreSQL refuses root).
type ownPostgres struct {
	t       *testing.T
	bin     string // directory of initdb and postgres
	dir     string
	port    int
	cmd     *exec.Cmd
	cred    *syscall.Credential
	stopped []int // pids frozen by freeze
}

func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		needBinary(t, "initdb") // on PATH, or skip/fail
		p, _ := exec.LookPath("initdb")
		bins = []string{p}
	}
	p := &ownPostgres{t: t, bin: filepath.Dir(bins[len(bins)-1]), port: freePort(t)}
	// Not t.TempDir: its parents are private to the test's user.
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			t.Fatal("running as root and no postgres or nobody user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	initdb := p.command("initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start()
	t.Cleanup(func() {
		p.thaw()
		if p.cmd != nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

func (p *ownPostgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

func (p *ownPostgres) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *ownPostgres) start() {
	p.t.Helper()
	p.cmd = p.command("postgres", "-D", filepath.Join(p.dir, "data"), "-p", strconv.Itoa(p.port),
		"-k", p.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off")
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	db, err := sql.Open("pgx", p.DSN())
	if err != nil {
		p.t.Fatal(err)
	}
	defer db.Close()
	waitFor(p.t, "postgres accepts connections", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return db.PingContext(ctx) == nil
	})
}

// stop is a fast shutdown (SIGINT): sessions are ended, the server exits.
func (p *ownPostgres) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// freeze stops (SIGSTOP) the postmaster and then every backend it forked:
// open connections and new ones alike get no answer.
func (p *ownPostgres) freeze() {
	p.t.Helper()
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	p.stopped = append([]int{pid}, childrenOf(pid)...)
	for _, c := range p.stopped[1:] {
		_ = syscall.Kill(c, syscall.SIGSTOP)
	}
}

// thaw resumes what freeze stopped.
func (p *ownPostgres) thaw() {
	for _, pid := range p.stopped {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	p.stopped = nil
}

// childrenOf lists the processes whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}
