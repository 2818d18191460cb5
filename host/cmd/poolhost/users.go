package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/users"
)

// cliActor is who the audit log says did what the CLI did.
var cliActor = auth.System("cli")

// userService is the same service the admin API uses, so CLI-made users and tokens obey
// the same rules and are audited the same way.
func userService(st *store.Store, stderr io.Writer) *users.Service {
	log := hclog.New(&hclog.LoggerOptions{Name: "poolhost", Output: stderr, Level: hclog.Warn})
	return users.New(st, audit.NewRecorder(audit.StoreWriter(st), log))
}

// runUsers is `poolhost users create --email E [--admin]` and `poolhost users list`.
func runUsers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, rest := subcommand(args)
	fs, db := storeFlags("users "+sub, stderr)
	email := fs.String("email", "", "the user's email `address`")
	admin := fs.Bool("admin", false, "make the user an admin (may use /v1/admin/...)")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if sub == "" && fs.NArg() > 0 {
		sub = fs.Arg(0)
	}
	usage := func() int {
		fmt.Fprintln(stderr, "usage: poolhost users create --email E [--admin] | users list  [--config FILE] [--database-url URL]")
		return 2
	}
	if sub != "create" && sub != "list" {
		return usage()
	}
	if sub == "create" && *email == "" {
		return usage()
	}
	st, err := db.open(ctx, true)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost users %s: %v\n", sub, err)
		return 1
	}
	defer st.Close()

	switch sub {
	case "create":
		u, err := userService(st, stderr).CreateUser(ctx, cliActor, *email, *admin)
		if err != nil {
			fmt.Fprintf(stderr, "poolhost users create: %s\n", host.ErrorMessage(err))
			return exitCode(err)
		}
		role := "user"
		if u.Admin {
			role = "admin"
		}
		fmt.Fprintf(stdout, "created %s %d %s\n", role, u.ID, u.Email)
	case "list":
		us, err := st.ListUsers(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "poolhost users list: %v\n", err)
			return 1
		}
		for _, u := range us {
			admin := ""
			if u.IsAdmin {
				admin = " admin"
			}
			fmt.Fprintf(stdout, "%d %s%s\n", u.ID, u.Email, admin)
		}
	}
	return 0
}
