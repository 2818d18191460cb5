package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// run invokes a command function the way main's dispatcher does.
func runCmd(t *testing.T, fn func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := fn(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func migrateCmd(ctx context.Context, args []string, o, e *bytes.Buffer) int {
	return dispatch(ctx, append([]string{"migrate"}, args...), o, e)
}
func usersCmd(ctx context.Context, args []string, o, e *bytes.Buffer) int {
	return dispatch(ctx, append([]string{"users"}, args...), o, e)
}
func tokensCmd(ctx context.Context, args []string, o, e *bytes.Buffer) int {
	return dispatch(ctx, append([]string{"tokens"}, args...), o, e)
}

func TestMigrateUsersTokensCLI(t *testing.T) {
	url := "sqlite:" + filepath.Join(t.TempDir(), "cli.db")
	db := "--database-url=" + url

	if code, _, stderr := runCmd(t, migrateCmd, "verify", db); code == 0 {
		t.Fatalf("verify on an empty database exited 0: %s", stderr)
	}
	if code, out, stderr := runCmd(t, migrateCmd, "up", db); code != 0 || !strings.Contains(out, "applied 00001") {
		t.Fatalf("up = %d %q %q", code, out, stderr)
	}
	if code, out, _ := runCmd(t, migrateCmd, "up", db); code != 0 || !strings.Contains(out, "nothing to apply") {
		t.Fatalf("second up = %d %q", code, out)
	}
	if code, out, _ := runCmd(t, migrateCmd, "status", db); code != 0 || !strings.Contains(out, "applied") || strings.Contains(out, "pending") {
		t.Fatalf("status = %d %q", code, out)
	}
	if code, _, stderr := runCmd(t, migrateCmd, "verify", db); code != 0 {
		t.Fatalf("verify = %d %s", code, stderr)
	}
	if code, _, _ := runCmd(t, migrateCmd, "sideways", db); code != 2 {
		t.Fatalf("unknown subcommand exit = %d, want 2", code)
	}

	if code, out, stderr := runCmd(t, usersCmd, "create", "--email", "ops@example.com", "--admin", db); code != 0 || !strings.Contains(out, "admin") {
		t.Fatalf("users create = %d %q %q", code, out, stderr)
	}
	if code, _, _ := runCmd(t, usersCmd, "create", "--email", "ops@example.com", db); code == 0 {
		t.Fatal("duplicate user created")
	}
	code, out, stderr := runCmd(t, tokensCmd, "create", "--email", "ops@example.com", db)
	token := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(token, store.TokenPrefix) || strings.Contains(token, "\n") {
		t.Fatalf("tokens create = %d %q %q", code, out, stderr)
	}

	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if u, _, err := st.AuthenticateToken(context.Background(), token); err != nil || u.Email != "ops@example.com" || !u.IsAdmin {
		t.Fatalf("CLI token does not authenticate: %+v %v", u, err)
	}
	if code, _, stderr := runCmd(t, tokensCmd, "revoke", "--token", token, db); code != 0 {
		t.Fatalf("revoke = %d %s", code, stderr)
	}
	if _, _, err := st.AuthenticateToken(context.Background(), token); err == nil {
		t.Fatal("revoked token still authenticates")
	}
	if code, _, _ := runCmd(t, tokensCmd, "revoke", db); code != 2 {
		t.Fatalf("revoke without a target exit = %d, want 2", code)
	}
	audit, _ := st.ListAudit(context.Background(), store.AuditFilter{})
	if len(audit) != 3 || audit[0].Actor != "system:cli" {
		t.Fatalf("audit = %+v", audit)
	}

	// The dead-letter table gone: verify fails and names it.
	if _, err := st.DB().Exec("DROP TABLE integration_ingestion_failures"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCmd(t, migrateCmd, "verify", db)
	if code != 1 || !strings.Contains(stderr, "integration_ingestion_failures") {
		t.Fatalf("verify without the dead-letter table = %d %q", code, stderr)
	}
}
