package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

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

func init() {
	registerGroup("users", "manage the users who call the API", `Users are people or app backends; admins may also use /v1/admin/... Changes are
audited as system:cli. The database commands apply pending migrations first when the
config says auto_migrate = true.`, "")
	register("users", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "create --email ADDRESS [--admin] [flags]",
			Short: "create a user",
			Example: `  poolhost users create --email ops@example.com --admin
  poolhost users create --email app@example.com --database-url sqlite:data/poolhost.db`,
		}
		db := storeFlags(c)
		email := c.Flags().String("email", "", "the user's email `address` (required)")
		admin := c.Flags().Bool("admin", false, "make the user an admin (may use /v1/admin/...)")
		_ = c.MarkFlagRequired("email")
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			st, err := db.open(ctx, true)
			if err != nil {
				fmt.Fprintf(stderr, "poolhost users create: %v\n", err)
				return 1
			}
			defer st.Close()
			u, err := userService(st, stderr).CreateUser(ctx, cliActor, *email, *admin)
			if err != nil {
				msg := host.ErrorMessage(err)
				if *admin && host.ErrorCode(err) == host.ECONFLICT {
					msg += ": users grant-admin --email " + strings.TrimSpace(*email) + " makes them an admin"
				}
				fmt.Fprintf(stderr, "poolhost users create: %s\n", msg)
				return exitCode(err)
			}
			role := "user"
			if u.Admin {
				role = "admin"
			}
			fmt.Fprintf(stdout, "created %s %d %s\n", role, u.ID, u.Email)
			return 0
		})
		return c
	})
	register("users", func() *cobra.Command {
		c := &cobra.Command{
			Use:     "list [flags]",
			Short:   "list every user",
			Example: "  poolhost users list --format json",
		}
		db := storeFlags(c)
		f := formatFlag(c)
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			st, err := db.open(ctx, true)
			if err != nil {
				fmt.Fprintf(stderr, "poolhost users list: %v\n", err)
				return 1
			}
			defer st.Close()
			us, err := st.ListUsers(ctx)
			if err != nil {
				fmt.Fprintf(stderr, "poolhost users list: %v\n", err)
				return 1
			}
			type row struct {
				ID         int64      `json:"id"`
				Email      string     `json:"email"`
				Admin      bool       `json:"admin"`
				CreatedAt  time.Time  `json:"created_at"`
				DisabledAt *time.Time `json:"disabled_at"`
			}
			rows := make([]row, 0, len(us))
			for _, u := range us {
				rows = append(rows, row{ID: u.ID, Email: u.Email, Admin: u.IsAdmin, CreatedAt: u.CreatedAt.UTC(), DisabledAt: utcPtr(u.DisabledAt)})
			}
			_ = f.write(stdout, rows, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tEMAIL\tROLE\tCREATED\tDISABLED")
				for _, r := range rows {
					role := "user"
					if r.Admin {
						role = "admin"
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", r.ID, r.Email, role, r.CreatedAt.Format(time.RFC3339), timeOrDash(r.DisabledAt))
				}
			})
			return 0
		})
		return c
	})
	register("users", func() *cobra.Command {
		return userSwitch(&cobra.Command{
			Use:   "disable (--email ADDRESS | --user ID) [flags]",
			Short: "disable a user: their tokens and console sessions stop working at once",
			Long: `disable keeps the user and their pools, devices and readings, but none of their tokens
authenticates any more. Disabling a disabled user changes nothing. users enable undoes
it, without the old tokens.`,
			Example: "  poolhost users disable --email ana@example.com",
		}, func(ctx context.Context, svc *users.Service, uid int64) (string, error) {
			changed, err := svc.DisableUser(ctx, cliActor, uid)
			if err != nil || !changed {
				return fmt.Sprintf("user %d was already disabled", uid), err
			}
			return fmt.Sprintf("disabled user %d", uid), nil
		})
	})
	register("users", func() *cobra.Command {
		return userSwitch(&cobra.Command{
			Use:   "enable (--email ADDRESS | --user ID) [flags]",
			Short: "enable a disabled user again, revoking every token they had",
			Long: `enable gives a disabled user back their access to their pools, devices and readings.
Their old tokens (and console sessions) stay dead: every one still live is revoked, so
a token that leaked does not come back with them, and the connects to providers they
had in progress end; make new tokens with tokens create.
Enabling an enabled user changes nothing.`,
			Example: "  poolhost users enable --email ana@example.com && poolhost tokens create --email ana@example.com",
		}, func(ctx context.Context, svc *users.Service, uid int64) (string, error) {
			changed, revoked, err := svc.EnableUser(ctx, cliActor, uid)
			if err != nil || !changed {
				return fmt.Sprintf("user %d was not disabled", uid), err
			}
			return fmt.Sprintf("enabled user %d (%d old token(s) revoked: make new ones with tokens create)", uid, revoked), nil
		})
	})
}

func init() {
	for _, grant := range []bool{true, false} {
		register("users", func() *cobra.Command {
			c := &cobra.Command{
				Use:     "grant-admin (--email ADDRESS | --user ID) [flags]",
				Short:   "make a user an admin: their tokens may then call the admin API and sign in to the console",
				Example: "  poolhost users grant-admin --email ana@example.com",
				Long: `grant-admin gives an existing user the admin role (users create --admin makes a new
one): their tokens, old and new, may call the admin API and sign in to the operators'
console. Granting it to an admin changes nothing. Audited as user.admin_granted.`,
			}
			if !grant {
				c.Use = "revoke-admin (--email ADDRESS | --user ID) [flags]"
				c.Short = "take the admin role from a user; they keep their access as a user"
				c.Example = "  poolhost users revoke-admin --email ana@example.com"
				c.Long = `revoke-admin takes the admin role away: at once, none of the user's tokens may call the
admin API, and their console sessions end at their next request. They keep their
tokens, pools and accounts as a user (users disable takes everything). Audited as
user.admin_revoked.`
			}
			return userSwitch(c, func(ctx context.Context, svc *users.Service, uid int64) (string, error) {
				changed, err := svc.SetAdmin(ctx, cliActor, uid, grant)
				switch {
				case err != nil:
					return "", err
				case grant && !changed:
					return fmt.Sprintf("user %d was already an admin", uid), nil
				case !grant && !changed:
					return fmt.Sprintf("user %d was not an admin", uid), nil
				case grant:
					return fmt.Sprintf("user %d is an admin", uid), nil
				}
				return fmt.Sprintf("user %d is no longer an admin (their tokens stay, as a user's)", uid), nil
			})
		})
	}
}

// userSwitch is `users disable` and `users enable`: c with the user's --email or --user,
// running change on that user and printing what it says.
func userSwitch(c *cobra.Command, change func(ctx context.Context, svc *users.Service, uid int64) (string, error)) *cobra.Command {
	name := "users " + strings.Fields(c.Use)[0]
	db := storeFlags(c)
	owner := tokenOwner{
		email:  c.Flags().String("email", "", "the user's email `address`"),
		userID: c.Flags().Int64("user", 0, "the user's `id`"),
	}
	c.MarkFlagsOneRequired("email", "user")
	c.MarkFlagsMutuallyExclusive("email", "user")
	c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
		st, err := db.open(ctx, true)
		if err != nil {
			fmt.Fprintf(stderr, "poolhost %s: %v\n", name, err)
			return 1
		}
		defer st.Close()
		fail := failer(name, stderr)
		uid, err := owner.resolve(ctx, st)
		if err != nil {
			return fail(err)
		}
		said, err := change(ctx, userService(st, stderr), uid)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, said)
		return 0
	})
	return c
}
