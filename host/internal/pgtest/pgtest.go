// Package pgtest gives tests a real PostgreSQL. A package opts in with
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and each test asks for its own fresh, empty database with NewDatabase(t). The server
// is POOLHOST_TEST_DATABASE_URL (or DATABASE_URL) when set — its role needs CREATEDB —
// and otherwise a throwaway cluster started with the local initdb/pg_ctl on a free port
// in a temp dir (as the postgres user when running as root), once per test binary, and
// stopped when the tests end.
//
// When no PostgreSQL can be had, tests skip — unless CI=true, where they fail: a CI run
// that silently skipped the production database would prove nothing.
//
// NewCluster starts a private cluster a test may stop and restart (fault drills), and
// Cluster.NewStandby a streaming standby of it (read replicas).
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq"
)

// EnvURL names the variable holding an existing server's URL.
const EnvURL = "POOLHOST_TEST_DATABASE_URL"

var (
	mainCalled atomic.Bool
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error
	dbCounter  atomic.Int64
)

// Main runs the package's tests, stops the shared cluster, if one was started, then runs
// cleanups (e.g. removing the plugin binaries TestMain built) before exiting. Call it from
// TestMain.
func Main(m *testing.M, cleanups ...func()) {
	mainCalled.Store(true)
	code := m.Run()
	if shared != nil && shared.owned {
		if err := shared.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop cluster: %v\n", err)
		}
		shared.cleanup()
	}
	for _, c := range cleanups {
		c()
	}
	os.Exit(code)
}

// NewDatabase creates a fresh, empty database on the shared server and returns its URL.
// The database is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("pgtest: call pgtest.Main(m) from TestMain so the cluster is stopped at the end")
	}
	sharedOnce.Do(func() {
		if u := envURL(); u != "" {
			shared, sharedErr = &Cluster{adminURL: u}, nil
			return
		}
		shared, sharedErr = startCluster()
	})
	if sharedErr != nil {
		unavailable(t, sharedErr)
	}
	return shared.NewDatabase(t)
}

func envURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return os.Getenv("DATABASE_URL")
}

var errNoBinaries = errors.New("no PostgreSQL binaries (initdb, pg_ctl) found; set " + EnvURL + " or install postgresql")

// unavailable skips, or fails under CI=true or when binaries exist but the server would
// not start (a broken setup must not pass as "skipped").
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" || !errors.Is(err, errNoBinaries) {
		t.Fatalf("pgtest: PostgreSQL unavailable: %v", err)
	}
	t.Skipf("pgtest: PostgreSQL unavailable: %v", err)
}

// Cluster is a PostgreSQL server: either one this package started (owned) or an
// existing one from the environment.
type Cluster struct {
	adminURL string // a URL to a database we may CREATE DATABASE from
	owned    bool

	binDir  string
	dir     string // temp dir: data/, socket/, log
	port    int
	asUser  string   // "postgres" when running as root
	reaper  *os.File // the write end of the reaper's pipe (reapOnExit)
	mu      sync.Mutex
	running bool
}

// NewCluster starts a private cluster for one test, stopped and removed when the test
// ends. Only local binaries can do that; without them the test skips (fails on CI).
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Logf("pgtest: stop cluster: %v", err)
		}
		c.cleanup()
	})
	return c
}

// URL is a URL to the cluster's postgres database, as a superuser.
func (c *Cluster) URL() string { return c.adminURL }

// NewDatabase creates a fresh empty database and returns its URL; dropped at test end.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), dbCounter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c.mu.Lock()
		running := c.running || !c.owned
		c.mu.Unlock()
		if !running {
			return // the test stopped the cluster; its data dir goes away with it
		}
		if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(c.adminURL)
	if err != nil {
		t.Fatalf("pgtest: parse admin URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func (c *Cluster) exec(ctx context.Context, stmt string) error {
	db, err := sql.Open("postgres", c.adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

func findBinDir() (string, error) {
	// POOLHOST_PG_BIN, when set, is the only place looked at.
	if d := os.Getenv("POOLHOST_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("%w (POOLHOST_PG_BIN=%s)", errNoBinaries, d)
		}
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		// Through a symlink to the real directory, which has the other binaries too
		// (pg_basebackup for standbys), not only the few linked onto PATH.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Prefer the newest major version.
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errNoBinaries
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func startCluster() (*Cluster, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{owned: true, binDir: bin}
	if os.Geteuid() == 0 {
		c.asUser = "postgres" // initdb refuses to run as root
	}
	c.dir, err = os.MkdirTemp("", "poolhost-pgtest-")
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(c.dir, "socket"), 0o700); err != nil {
		c.cleanup()
		return nil, err
	}
	if err := c.chownToUser(c.dir, filepath.Join(c.dir, "socket")); err != nil {
		c.cleanup()
		return nil, err
	}
	out, err := c.run(context.Background(), "initdb", "-D", c.dataDir(), "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if err != nil {
		c.cleanup()
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	if err := c.reapOnExit(); err != nil {
		c.cleanup()
		return nil, err
	}
	// A few tries: the free port we picked can be taken before the server binds it.
	for attempt := 0; ; attempt++ {
		c.port, err = freePort()
		if err != nil {
			c.cleanup()
			return nil, err
		}
		c.adminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
		if err = c.Start(); err == nil {
			return c, nil
		}
		if attempt == 2 {
			c.cleanup()
			return nil, err
		}
	}
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// run runs a PostgreSQL binary, as c.asUser when set.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path := filepath.Join(c.binDir, name)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// Start starts the (owned) cluster and waits until it accepts connections.
func (c *Cluster) Start() error {
	if !c.owned {
		return errors.New("pgtest: cannot start a server from the environment")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	// Durability off: tests need speed, not crash safety. POOLHOST_PGTEST_DURABLE=1 keeps
	// PostgreSQL's defaults, e.g. for honest benchmark figures.
	opts := []string{
		"-p " + strconv.Itoa(c.port),
		"-c listen_addresses=127.0.0.1",
		"-c unix_socket_directories=" + filepath.Join(c.dir, "socket"),
		"-c max_connections=300",
		"-c shared_buffers=64MB",
	}
	if os.Getenv("POOLHOST_PGTEST_DURABLE") != "1" {
		opts = append(opts, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-l", filepath.Join(c.dir, "log"),
		"-o", strings.Join(opts, " "), "-w", "-t", "100", "start")
	if err != nil {
		logTail, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl start: %w: %s\n%s", err, out, tail(logTail, 2000))
	}
	c.running = true
	return nil
}

// Stop stops the (owned) cluster immediately, dropping connections, as a crash would
// look to clients.
func (c *Cluster) Stop() error {
	if !c.owned {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "100", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	c.running = false
	return nil
}

// reapOnExit stops the cluster and removes its directory when this process ends, however
// it ends. The tests' cleanups (Stop, cleanup, Main) do it on a normal exit, but a test
// binary killed by go test's -timeout, by a signal or by a panic in another goroutine
// runs none of them, and the server, a daemon, ran on with its parent gone: its port,
// its memory, and every file descriptor it inherited — on the developers' box a
// flock(1) lock that the measurements wait for, held until someone found the orphan.
// So a small shell waits on a pipe whose only writer is this process (c.reaper): the
// kernel closes it when the process ends, and the shell's read returns. cleanup closes
// it too, once the cluster is gone.
func (c *Cluster) reapOnExit() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pgtest: reaper pipe: %w", err)
	}
	defer r.Close()
	stop := []string{filepath.Join(c.binDir, "pg_ctl"), "-D", c.dataDir(), "-m", "immediate", "stop"}
	if c.asUser != "" {
		stop = append([]string{"runuser", "-u", c.asUser, "--"}, stop...)
	}
	// Stopping a cluster already stopped fails harmlessly; the directory goes either way.
	// $@ is the stop command, $0 the directory.
	// It ignores SIGINT and SIGHUP: a Ctrl-C (or a closed terminal) that ends the test
	// binary reaches its whole process group, and the reaper must outlive it.
	cmd := exec.Command("sh", append([]string{"-c", `trap '' INT HUP; read -r _; "$@" >/dev/null 2>&1; rm -rf "$0"`, c.dir}, stop...)...)
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("pgtest: start reaper: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	c.reaper = w
	return nil
}

// cleanup removes the cluster's directory (stopped first, by Stop) and ends its reaper.
func (c *Cluster) cleanup() {
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
	if c.reaper != nil {
		c.reaper.Close() // the reaper stops nothing now, removes nothing, and exits
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// NewStandby starts a streaming standby of c (an owned cluster): a base backup taken
// with `pg_basebackup -R`, so the copy starts in recovery and follows c's WAL over a
// replication connection. It is stopped and removed when the test ends. Databases
// are created on c and appear here; StandbyURL gives one's URL on the standby.
func (c *Cluster) NewStandby(t testing.TB) *Cluster {
	t.Helper()
	if !c.owned {
		t.Fatal("pgtest: a standby needs a cluster this package started")
	}
	s, err := c.startStandby()
	if err != nil {
		t.Fatalf("pgtest: standby: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Logf("pgtest: stop standby: %v", err)
		}
		s.cleanup()
	})
	return s
}

func (c *Cluster) startStandby() (*Cluster, error) {
	s := &Cluster{owned: true, binDir: c.binDir, asUser: c.asUser}
	var err error
	if s.dir, err = os.MkdirTemp("", "poolhost-pgtest-standby-"); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(s.dir, "socket"), 0o700); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.chownToUser(s.dir, filepath.Join(s.dir, "socket")); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.reapOnExit(); err != nil {
		s.cleanup()
		return nil, err
	}
	// -R writes primary_conninfo and standby.signal; -X stream copies the WAL the
	// backup needs over a second connection while it runs. The primary's initdb
	// --auth=trust already lets local replication connections in.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := s.run(ctx, "pg_basebackup", "-D", s.dataDir(), "-R", "-X", "stream", "--no-sync",
		"-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres", "-c", "fast")
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("pg_basebackup: %w: %s", err, out)
	}
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			s.cleanup()
			return nil, err
		}
		s.adminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
		if err = s.Start(); err == nil {
			return s, nil
		}
		if attempt == 2 {
			s.cleanup()
			return nil, err
		}
	}
}

// chownToUser gives paths to c.asUser, when the cluster runs as another user.
func (c *Cluster) chownToUser(paths ...string) error {
	if c.asUser == "" {
		return nil
	}
	u, err := user.Lookup(c.asUser)
	if err != nil {
		return fmt.Errorf("running as root needs a %q user: %w", c.asUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// StandbyURL is databaseURL (a database of the primary) on this cluster: same database,
// this cluster's address.
func (c *Cluster) StandbyURL(t testing.TB, databaseURL string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("pgtest: parse URL: %v", err)
	}
	u.Host = "127.0.0.1:" + strconv.Itoa(c.port)
	return u.String()
}

// WaitReplayed waits until standby has replayed everything primary has written so far:
// up to its WAL insert position, not its write position, which with synchronous_commit
// off (these clusters) can still be short of a commit the client was told of. A bounded
// poll, not a timed assertion: the test fails only after two minutes.
func WaitReplayed(t testing.TB, primary, standby *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := sql.Open("postgres", primary.adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := sql.Open("postgres", standby.adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var lsn string
	if err := p.QueryRowContext(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
		t.Fatalf("pgtest: primary WAL position: %v", err)
	}
	for {
		var done bool
		err := s.QueryRowContext(ctx, `SELECT COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)`, lsn).Scan(&done)
		if err == nil && done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pgtest: standby did not replay up to %s within two minutes (last error: %v)", lsn, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
