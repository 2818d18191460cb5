package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/store"
)

// cli runs poolhost with args through main's dispatcher.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCLIHelp: every command has real help on stdout (exit 0) that never touches a
// config file, and each leaf shows only its own flags.
func TestCLIHelp(t *testing.T) {
	t.Setenv("POOLHOST_CONFIG", filepath.Join(t.TempDir(), "missing.hcl"))
	for _, tt := range []struct {
		args     []string
		want     []string
		mustNot  []string
		exitCode int
	}{
		{[]string{"--help"}, []string{"Usage:", "serve", "failures", "migrate", "providers", "reload", "POOLHOST_CONFIG"}, nil, 0},
		{[]string{"help", "failures"}, []string{"list", "show", "requeue", "discard"}, nil, 0},
		{[]string{"failures", "--help"}, []string{"dead letters", "Examples:"}, nil, 0},
		{[]string{"failures", "list", "--help"}, []string{"--status", "--format", "--config", "Examples:"}, []string{"--admin", "--email"}, 0},
		{[]string{"users", "list", "-h"}, []string{"--format", "--database-url"}, []string{"--admin", "--email"}, 0},
		{[]string{"users", "create", "--help"}, []string{"--admin", "--email"}, []string{"--format"}, 0},
		{[]string{"providers", "--help"}, []string{"--addr", "--token", "POOLHOST_TOKEN"}, nil, 0},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, stderr := cli(t, tt.args...)
			if code != tt.exitCode || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.mustNot {
				if strings.Contains(out, w) {
					t.Errorf("help shows another command's flag %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestCLIRefusals: mistakes exit 2 with the usage line and never run the command —
// extra arguments included, which used to drop the flags after them silently.
func TestCLIRefusals(t *testing.T) {
	db := "--database-url=sqlite:" + filepath.Join(t.TempDir(), "x.db")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"sideways"}, `unknown command "sideways"`},
		{[]string{"failures"}, "needs a command"},
		{[]string{"failures", "lsit"}, "did you mean list"},
		{[]string{"plugins", "list"}, "did you mean check"},
		{[]string{"reload", "--addr", "127.0.0.1:8080", "--token", "pht_x"}, `"127.0.0.1:8080" must be the host's base URL, e.g. http://127.0.0.1:8080`},
		{[]string{"providers", "--addr", "localhost:8080", "--token", "pht_x"}, `"localhost:8080" must be the host's base URL`},
		{[]string{"users", "list", "extra", db}, `takes no arguments, got ["extra"]`},
		{[]string{"migrate", "up", "now", db}, "takes no arguments"},
		{[]string{"migrate", "down", "--to", "0", db}, "--to must be at least 1"},
		{[]string{"migrate", "down", "--to", "-1", db}, "--to must be at least 1"},
		{[]string{"failures", "show", db}, "takes one failure ID"},
		{[]string{"failures", "show", "abc", db}, `"abc" is not a failure ID`},
		{[]string{"users", "create", db}, `required flag(s) "email" not set`},
		{[]string{"users", "list", "--format", "xml", db}, "must be text or json"},
		{[]string{"failures", "list", "--limit", "1000", db}, "must be a whole number from 1 to 500"},
		{[]string{"failures", "list", "--limit", "0", db}, "must be a whole number from 1 to 500"},
		{[]string{"failures", "list", "--limit", "-1", db}, "must be a whole number from 1 to 500"},
		{[]string{"tokens", "list", db}, "email"},
		{[]string{"config", "validate", "a.hcl"}, "takes no arguments"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, stderr := cli(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) || !strings.Contains(strings.ToLower(stderr), "usage:") {
				t.Fatalf("exit %d, stderr %q; want 2 with %q and the usage", code, stderr, tt.want)
			}
			if out != "" {
				t.Fatalf("stdout on a refusal: %q", out)
			}
		})
	}
}

// TestCLIJSON: the listings print JSON a script can decode, [] when empty.
func TestCLIJSON(t *testing.T) {
	db := "--database-url=sqlite:" + filepath.Join(t.TempDir(), "x.db")
	if code, _, stderr := cli(t, "migrate", "up", db); code != 0 {
		t.Fatal(stderr)
	}
	if code, out, _ := cli(t, "users", "list", "--format", "json", db); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty users list = %d %q", code, out)
	}
	cli(t, "users", "create", "--email", "ops@example.com", "--admin", db)
	cli(t, "tokens", "create", "--email", "ops@example.com", "--name", "laptop", db)

	var users []struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
		Admin bool   `json:"admin"`
	}
	decode(t, &users, "users", "list", "--format", "json", db)
	if len(users) != 1 || users[0].Email != "ops@example.com" || !users[0].Admin {
		t.Fatalf("users = %+v", users)
	}
	var tokens []struct {
		ID        int64      `json:"id"`
		Name      string     `json:"name"`
		Prefix    string     `json:"prefix"`
		RevokedAt *time.Time `json:"revoked_at"`
	}
	decode(t, &tokens, "tokens", "list", "--user", "1", "-format", "json", db)
	if len(tokens) != 1 || tokens[0].Name != "laptop" || tokens[0].RevokedAt != nil {
		t.Fatalf("tokens = %+v", tokens)
	}
	// The table never shows a token's value either.
	if _, out, _ := cli(t, "tokens", "list", "--email", "ops@example.com", db); !strings.Contains(out, "laptop") || strings.Count(out, "\n") != 2 {
		t.Fatalf("tokens table = %q", out)
	}
	var migrations []struct {
		Version int64 `json:"version"`
		Applied bool  `json:"applied"`
	}
	decode(t, &migrations, "migrate", "status", "--format=json", db)
	if len(migrations) == 0 || !migrations[0].Applied {
		t.Fatalf("migrations = %+v", migrations)
	}
	var fails []any
	decode(t, &fails, "failures", "list", "--format", "json", db)
	if len(fails) != 0 {
		t.Fatalf("failures = %v", fails)
	}
}

func decode(t *testing.T, v any, args ...string) {
	t.Helper()
	code, out, stderr := cli(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d %s", args, code, stderr)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v: %v in %q", args, err, out)
	}
}

// TestCLIConfigEnv: POOLHOST_CONFIG is the default config file.
func TestCLIConfigEnv(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "from-env.hcl")
	t.Setenv("POOLHOST_CONFIG", missing)
	code, _, stderr := cli(t, "failures", "list")
	if code != 1 || !strings.Contains(stderr, "from-env.hcl") {
		t.Fatalf("exit %d, stderr %q; want the file named by POOLHOST_CONFIG", code, stderr)
	}
}

// userWithToken makes a SQLite database with user 1, ana@example.com, and a token of
// hers: its URL, the --database-url flag naming it, and the token.
func userWithToken(t *testing.T) (url, db, token string) {
	t.Helper()
	url = "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	db = "--database-url=" + url
	cli(t, "migrate", "up", db)
	cli(t, "users", "create", "--email", "ana@example.com", db)
	_, token, _ = cli(t, "tokens", "create", "--email", "ana@example.com", db)
	return url, db, strings.TrimSpace(token)
}

// TestUsersDisable: a disabled user's token stops authenticating at once; disabling
// again changes nothing; both are told apart and only the first is audited.
func TestUsersDisable(t *testing.T) {
	url, db, token := userWithToken(t)
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.AuthenticateToken(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := cli(t, "users", "disable", "--email", "ana@example.com", db); code != 0 || !strings.Contains(out, "disabled user 1") {
		t.Fatalf("disable = %d %q %q", code, out, stderr)
	}
	if _, _, err := st.AuthenticateToken(context.Background(), token); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a disabled user's token authenticates: %v", err)
	}
	if code, out, _ := cli(t, "users", "disable", "--user", "1", db); code != 0 || !strings.Contains(out, "already disabled") {
		t.Fatalf("second disable = %d %q", code, out)
	}
	if code, _, stderr := cli(t, "users", "disable", "--user", "9", db); code != 1 || !strings.Contains(stderr, "no user 9") {
		t.Fatalf("disable an unknown user = %d %q", code, stderr)
	}
	// A token for a disabled user would be shown once and never work: refused.
	if code, out, stderr := cli(t, "tokens", "create", "--email", "ana@example.com", db); code != 1 || out != "" || !strings.Contains(stderr, "user 1 is disabled") {
		t.Fatalf("tokens create for a disabled user = %d %q %q", code, out, stderr)
	}
	evs, _ := st.ListAudit(context.Background(), store.AuditFilter{})
	if len(evs) != 3 || evs[0].Action != "user.disabled" || evs[0].Actor != "system:cli" {
		t.Fatalf("audit = %+v", evs)
	}
}

// TestUsersEnable: a disabled user enabled again gets their access back, not their old
// tokens (a token that leaked stays dead); a new token works; enabling again, or an
// unknown user, is told apart; only the change is audited, with the tokens it revoked.
func TestUsersEnable(t *testing.T) {
	url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	db := "--database-url=" + url
	cli(t, "migrate", "up", db)
	cli(t, "users", "create", "--email", "ana@example.com", db)
	_, old, _ := cli(t, "tokens", "create", "--email", "ana@example.com", db)
	cli(t, "users", "disable", "--email", "ana@example.com", db)
	// A token for the disabled user is refused, saying how to give access back.
	if code, _, stderr := cli(t, "tokens", "create", "--email", "ana@example.com", db); code != 1 || !strings.Contains(stderr, "user 1 is disabled") || !strings.Contains(stderr, "poolhost users enable") {
		t.Fatalf("tokens create for a disabled user = %d %q", code, stderr)
	}
	if code, out, stderr := cli(t, "users", "enable", "--email", "ana@example.com", db); code != 0 || !strings.Contains(out, "enabled user 1 (1 old token(s) revoked") {
		t.Fatalf("enable = %d %q %q", code, out, stderr)
	}
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.AuthenticateToken(context.Background(), strings.TrimSpace(old)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the token from before the disable authenticates again: %v", err)
	}
	code, fresh, stderr := cli(t, "tokens", "create", "--email", "ana@example.com", db)
	if code != 0 {
		t.Fatalf("tokens create after enable = %d %q", code, stderr)
	}
	if _, _, err := st.AuthenticateToken(context.Background(), strings.TrimSpace(fresh)); err != nil {
		t.Fatalf("a new token after enable: %v", err)
	}
	if code, out, _ := cli(t, "users", "enable", "--user", "1", db); code != 0 || !strings.Contains(out, "was not disabled") {
		t.Fatalf("second enable = %d %q", code, out)
	}
	if code, _, stderr := cli(t, "users", "enable", "--user", "9", db); code != 1 || !strings.Contains(stderr, "no user 9") {
		t.Fatalf("enable an unknown user = %d %q", code, stderr)
	}
	evs, _ := st.ListAudit(context.Background(), store.AuditFilter{Action: "user.enabled"})
	if len(evs) != 1 || evs[0].Actor != "system:cli" || evs[0].Details["tokensRevoked"] != 1.0 {
		t.Fatalf("audit = %+v", evs)
	}
}

// TestJSONLogDurations: JSON logs write durations as text, not integer nanoseconds.
func TestJSONLogDurations(t *testing.T) {
	var b bytes.Buffer
	log := newLogger(&config.Config{LogLevel: "info", LogFormat: "json"}, &b)
	log.Named("x").With("lease", 90*time.Second).Info("hello", "took", 1500*time.Millisecond, "n", 3)
	var line map[string]any
	if err := json.Unmarshal(b.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["took"] != "1.5s" || line["lease"] != "1m30s" || line["n"] != 3.0 {
		t.Fatalf("log line = %s", b.String())
	}
}

// TestTokensRevokeByValueIsNotAUse: `tokens revoke --token` finds the token without
// counting the lookup as a use, so the token list still says when it was last used —
// by whoever leaked it — and not "just now" by the operator revoking it.
func TestTokensRevokeByValueIsNotAUse(t *testing.T) {
	db := "--database-url=sqlite:" + filepath.Join(t.TempDir(), "x.db")
	cli(t, "migrate", "up", db)
	cli(t, "users", "create", "--email", "ana@example.com", db)
	_, token, _ := cli(t, "tokens", "create", "--email", "ana@example.com", db)
	token = strings.TrimSpace(token)
	if code, out, stderr := cli(t, "tokens", "revoke", "--token", token, db); code != 0 || out != "revoked 1 token(s) of user 1\n" {
		t.Fatalf("revoke --token = %d %q %q", code, out, stderr)
	}
	var tokens []struct {
		LastUsedAt *time.Time `json:"last_used_at"`
		RevokedAt  *time.Time `json:"revoked_at"`
	}
	decode(t, &tokens, "tokens", "list", "--email", "ana@example.com", "--format", "json", db)
	if len(tokens) != 1 || tokens[0].RevokedAt == nil || tokens[0].LastUsedAt != nil {
		t.Fatalf("after revoke --token of a never used token: %+v, want revoked and never used", tokens)
	}
	if code, _, stderr := cli(t, "tokens", "revoke", "--token", token, db); code != 1 || !strings.Contains(stderr, "no live token with that value") {
		t.Fatalf("revoking it again = %d %q", code, stderr)
	}
	// By id, the token is found revoked: the state asked for, said as such (it printed
	// "revoked 0 token(s) of user 1", which reads as not found).
	if code, out, stderr := cli(t, "tokens", "revoke", "--id", "1", db); code != 0 || !strings.HasPrefix(out, "token 1 (pht_") || !strings.Contains(out, "of user 1 was already revoked at ") {
		t.Fatalf("revoking it again by id = %d %q %q", code, out, stderr)
	}
}

// TestSQLiteMissingDirectory: a database_url whose directory does not exist is refused
// naming that directory, by the CLI and by serve alike (SQLite itself said only "unable
// to open database file (14)", and serve "open ….lock: no such file or directory").
func TestSQLiteMissingDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "data")
	code, _, stderr := cli(t, "users", "list", "--database-url=sqlite:"+filepath.Join(missing, "poolhost.db"))
	if code != 1 || !strings.Contains(stderr, "the directory "+missing+" of the SQLite database") || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("users list = %d %q, want the missing directory named", code, stderr)
	}
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(missing, "poolhost.db"), store.Serving())
	if err == nil {
		st.Close()
		t.Fatal("serve's open of a database in a missing directory succeeded")
	}
	if !strings.Contains(err.Error(), "the directory "+missing+" of the SQLite database") {
		t.Fatalf("serve's open: %v, want the missing directory named", err)
	}

	// A relative one is taken from the working directory, unlike the config's file()
	// paths: run from another directory than the usual, the error says where it looked.
	wd := t.TempDir()
	t.Chdir(wd)
	code, _, stderr = cli(t, "users", "list", "--database-url=sqlite:data/poolhost.db")
	if code != 1 || !strings.Contains(stderr, "the directory data of the SQLite database data/poolhost.db does not exist (a relative database_url is taken from the working directory, "+wd+", not from the config file's)") {
		t.Fatalf("users list with a relative database_url = %d %q, want the working directory named", code, stderr)
	}
}

// TestBackupRestoreMissingPaths: a backup into a directory that does not exist names
// that directory (it said "open …/.b.db.123.partial: no such file or directory", a
// temporary name the operator never chose), and a restore from a file that does not
// exist says so and that nothing was restored (it said "stat …: no such file or
// directory").
func TestBackupRestoreMissingPaths(t *testing.T) {
	dir := t.TempDir()
	db := "--database-url=sqlite:" + filepath.Join(dir, "poolhost.db")
	if code, _, stderr := cli(t, "migrate", "up", db); code != 0 {
		t.Fatalf("migrate up = %d %q", code, stderr)
	}
	missing := filepath.Join(dir, "backups")
	code, _, stderr := cli(t, "backup", "--to", filepath.Join(missing, "b.db"), db)
	if code != 1 || !strings.Contains(stderr, "the directory "+missing+" of "+filepath.Join(missing, "b.db")+" does not exist") || strings.Contains(stderr, ".partial") {
		t.Errorf("backup into a missing directory = %d %q, want the directory named", code, stderr)
	}
	gone := filepath.Join(dir, "gone.db")
	code, _, stderr = cli(t, "restore", "--from", gone, "--force", db)
	if code != 1 || !strings.Contains(stderr, "the backup "+gone+" does not exist: nothing restored") {
		t.Errorf("restore from a missing file = %d %q, want it named", code, stderr)
	}
}

// TestRemoteUnreachableSaysAddr: poolhost reload (and the other admin-API commands) read
// no config, so against a host listening elsewhere than 127.0.0.1:8080 they fail to
// connect: the error says how to name the host.
func TestRemoteUnreachableSaysAddr(t *testing.T) {
	t.Setenv("POOLHOST_ADDR", "")
	code, _, stderr := cli(t, "reload", "--addr", "http://127.0.0.1:1", "--token", "pht_x")
	if code != 1 || !strings.Contains(stderr, "is poolhost serving at http://127.0.0.1:1?") || !strings.Contains(stderr, "--addr or POOLHOST_ADDR") {
		t.Fatalf("reload against no host = %d %q, want --addr named", code, stderr)
	}
}

// TestPluginsPinInstallWrongInputs: plugins pin of a path that does not exist says so
// (it said "lstat …: no such file or directory"), and plugins install --sha256 with a
// value that is no sha256 says that, not "sha256 mismatch … the expected pin is abc".
func TestPluginsPinInstallWrongInputs(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "poolhost-provider-acme")
	code, _, stderr := cli(t, "plugins", "pin", missing)
	if code != 1 || !strings.Contains(stderr, missing+" does not exist: give the plugin binary or bundle directory to pin") {
		t.Errorf("plugins pin of a missing path = %d %q", code, stderr)
	}
	code, _, stderr = cli(t, "plugins", "install", "--config", filepath.Join(t.TempDir(), "poolhost.hcl"), "--sha256", "abc", missing)
	if code != 1 || !strings.Contains(stderr, `--sha256 "abc" is not a sha256: give the 64 hex digits the publisher printed`) {
		t.Errorf("plugins install --sha256 abc = %d %q", code, stderr)
	}
}

// TestCLIRefusesAMissingSQLiteFile: a command that reads a database refuses a SQLite
// path with no file there, creating nothing. Each created an empty database at the
// mistyped path instead: migrate status then listed every migration pending, migrate
// verify advised migrate up (which would have filled the wrong file), and users list
// or failures list failed with "no such table: users". migrate up still creates one,
// and so do the user commands whose config says auto_migrate.
func TestCLIRefusesAMissingSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "typo.db")
	db := "--database-url=sqlite:" + path
	for _, args := range [][]string{
		{"migrate", "status"}, {"migrate", "verify"}, {"migrate", "down", "--to", "5"},
		{"users", "list"}, {"users", "create", "--email", "ana@example.com"},
		{"tokens", "list", "--email", "ana@example.com"}, {"failures", "list"},
		{"backup", "--to", filepath.Join(dir, "backup.db")},
	} {
		code, out, stderr := cli(t, append(args, db)...)
		if code != 1 || out != "" || !strings.Contains(stderr, "no SQLite database at "+path+"; nothing was created") || !strings.Contains(stderr, "poolhost migrate up") {
			t.Errorf("%v = %d %q %q, want a refusal naming the path", args, code, out, stderr)
		}
		if _, err := os.Stat(path); err == nil {
			t.Fatalf("%v created %s", args, path)
		}
	}
	if code, out, stderr := cli(t, "migrate", "up", db); code != 0 || !strings.Contains(out, "applied 00001") {
		t.Fatalf("migrate up = %d %q %q", code, out, stderr)
	}
	if code, out, stderr := cli(t, "users", "list", db); code != 0 || !strings.HasPrefix(out, "ID") {
		t.Errorf("users list after migrate up = %d %q %q", code, out, stderr)
	}

	// A config with auto_migrate (the default) makes the database, as serve would.
	key, _ := credentials.GenerateKey()
	writeTestFile(t, filepath.Join(dir, "k.key"), credentials.EncodeKey(key)+"\n")
	conf := filepath.Join(dir, "poolhost.hcl")
	writeTestFile(t, conf, `database_url = "sqlite:`+filepath.Join(dir, "auto.db")+`"
credentials_key = file("k.key")
`)
	auto := filepath.Join(dir, "auto.db")
	for _, args := range [][]string{{"accounts", "disconnect", "--provider", "acme"}, {"credentials", "rewrap"}} {
		// These never migrate: the database must be there.
		if code, out, stderr := cli(t, append(args, "--config", conf)...); code != 1 || out != "" || !strings.Contains(stderr, "no SQLite database at "+auto) {
			t.Errorf("%v = %d %q %q, want a refusal naming the path", args, code, out, stderr)
		}
		if _, err := os.Stat(auto); err == nil {
			t.Fatalf("%v created %s", args, auto)
		}
	}
	if code, out, stderr := cli(t, "users", "create", "--email", "ana@example.com", "--config", conf); code != 0 || !strings.Contains(out, "created user 1") {
		t.Errorf("users create with auto_migrate = %d %q %q", code, out, stderr)
	}
}

// TestUsersGrantRevokeAdmin: an existing user is made an admin and back without SQL.
// There was no way but an UPDATE on users: `users create --admin` of an existing user
// only said the email exists, and the README's console section speaks of a user who
// "stops being an admin". A revoked admin keeps their token as a user's; each change
// is audited, a repeated one changes nothing and says so.
func TestUsersGrantRevokeAdmin(t *testing.T) {
	url, db, token := userWithToken(t)
	if code, _, stderr := cli(t, "users", "create", "--email", "ana@example.com", "--admin", db); code != 1 || !strings.Contains(stderr, "users grant-admin --email ana@example.com") {
		t.Fatalf("users create --admin of an existing user = %d %q, want the way to grant it", code, stderr)
	}
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	isAdmin := func() bool {
		t.Helper()
		u, _, err := st.AuthenticateToken(context.Background(), token)
		if err != nil {
			t.Fatalf("ana's token: %v", err)
		}
		return u.IsAdmin
	}
	for _, step := range []struct {
		args  []string
		out   string
		admin bool
	}{
		{[]string{"grant-admin", "--email", "ana@example.com"}, "user 1 is an admin\n", true},
		{[]string{"grant-admin", "--user", "1"}, "user 1 was already an admin\n", true},
		{[]string{"revoke-admin", "--email", "ana@example.com"}, "user 1 is no longer an admin (their tokens stay, as a user's)\n", false},
		{[]string{"revoke-admin", "--email", "ana@example.com"}, "user 1 was not an admin\n", false},
	} {
		if code, out, stderr := cli(t, append(append([]string{"users"}, step.args...), db)...); code != 0 || out != step.out {
			t.Fatalf("users %v = %d %q %q, want %q", step.args, code, out, stderr, step.out)
		}
		if got := isAdmin(); got != step.admin {
			t.Fatalf("after users %v: admin %v", step.args, got)
		}
	}
	if code, _, stderr := cli(t, "users", "grant-admin", "--user", "9", db); code != 1 || !strings.Contains(stderr, "no user 9") {
		t.Fatalf("grant-admin to an unknown user = %d %q", code, stderr)
	}
	evs, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "user"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		if e.Actor != "system:cli" || e.TargetID != "1" {
			t.Errorf("audit row %+v", e)
		}
		actions = append(actions, e.Action)
	}
	if strings.Join(actions, ",") != "user.admin_revoked,user.admin_granted,user.created" {
		t.Errorf("audited %v, want the two changes after the creation", actions)
	}
}
