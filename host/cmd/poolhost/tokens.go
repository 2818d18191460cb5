package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/store"
)

// tokenOwner is the --email / --user pair that names a token's owner.
type tokenOwner struct {
	email  *string
	userID *int64
}

func ownerFlags(c *cobra.Command) tokenOwner {
	return tokenOwner{
		email:  c.Flags().String("email", "", "the token owner's email `address`"),
		userID: c.Flags().Int64("user", 0, "the token owner's user `id`"),
	}
}

func (o tokenOwner) given() bool { return *o.email != "" || *o.userID != 0 }

func (o tokenOwner) resolve(ctx context.Context, st *store.Store) (int64, error) {
	if *o.userID != 0 {
		if _, err := st.GetUser(ctx, *o.userID); errors.Is(err, store.ErrNotFound) {
			return 0, host.Wrap(host.ENOTFOUND, err, "no user %d", *o.userID)
		} else if err != nil {
			return 0, err
		}
		return *o.userID, nil
	}
	u, err := st.GetUserByEmail(ctx, *o.email)
	if errors.Is(err, store.ErrNotFound) {
		return 0, host.Wrap(host.ENOTFOUND, err, "no user with email %s", *o.email)
	}
	return u.ID, err
}

func init() {
	registerGroup("tokens", "manage API tokens", `A token is shown once, when it is created; the database keeps its SHA-256. Changes are
audited as system:cli.`, "")
	register("tokens", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "create (--email ADDRESS | --user ID) [--name LABEL] [flags]",
			Short: "create a token and print it alone on stdout (the only time it is shown)",
			Example: `  TOKEN=$(poolhost tokens create --email ops@example.com --name laptop)
  poolhost tokens create --user 3`,
		}
		db := storeFlags(c)
		owner := ownerFlags(c)
		name := c.Flags().String("name", "", "a `label` for the token")
		c.MarkFlagsOneRequired("email", "user")
		c.MarkFlagsMutuallyExclusive("email", "user")
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			st, err := db.open(ctx, true)
			if err != nil {
				fmt.Fprintf(stderr, "poolhost tokens create: %v\n", err)
				return 1
			}
			defer st.Close()
			fail := failer("tokens create", stderr)
			uid, err := owner.resolve(ctx, st)
			if err != nil {
				return fail(err)
			}
			tok, err := userService(st, stderr).CreateToken(ctx, cliActor, uid, *name)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintln(stdout, tok.Token)
			fmt.Fprintf(stderr, "token %d (%s…) for user %d; this is the only time it is shown\n", tok.ID, tok.Prefix, uid)
			return 0
		})
		return c
	})
	register("tokens", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "revoke (--id TOKEN_ID | --token VALUE | (--email ADDRESS | --user ID) --all) [flags]",
			Short: "revoke one token, or every token of a user",
			Example: `  poolhost tokens revoke --id 3
  poolhost tokens revoke --token pht_…
  poolhost tokens revoke --email ana@example.com --all`,
		}
		db := storeFlags(c)
		owner := ownerFlags(c)
		tokenID := c.Flags().Int64("id", 0, "the token `id` to revoke")
		plaintext := c.Flags().String("token", "", "the token to revoke, by its `value`")
		all := c.Flags().Bool("all", false, "revoke every token of the user (and end their connects in progress)")
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			switch {
			case (*tokenID != 0) != (*plaintext != "") && !*all && !owner.given():
			case *all && owner.given() && *tokenID == 0 && *plaintext == "":
			default:
				fmt.Fprintln(stderr, "poolhost tokens revoke: name one token (--id or --token), or a user with --all")
				fmt.Fprintln(stderr, "usage: poolhost tokens revoke --id TOKEN_ID | --token VALUE | (--email ADDRESS | --user ID) --all")
				return 2
			}
			st, err := db.open(ctx, true)
			if err != nil {
				fmt.Fprintf(stderr, "poolhost tokens revoke: %v\n", err)
				return 1
			}
			defer st.Close()
			fail := failer("tokens revoke", stderr)
			var uid, tid int64
			switch {
			case *tokenID != 0:
				t, err := st.GetAPIToken(ctx, *tokenID)
				if errors.Is(err, store.ErrNotFound) {
					return fail(host.Wrap(host.ENOTFOUND, err, "no such token"))
				} else if err != nil {
					return fail(err)
				}
				if t.RevokedAt != nil {
					// Already in the state asked for: say so, as users disable does, rather
					// than "revoked 0 token(s)", which reads as a failure to find it.
					fmt.Fprintf(stdout, "token %d (%s…) of user %d was already revoked at %s\n", t.ID, t.Prefix, t.UserID, t.RevokedAt.UTC().Format(time.RFC3339))
					return 0
				}
				uid, tid = t.UserID, t.ID
			case *plaintext != "":
				t, err := st.GetAPITokenByValue(ctx, *plaintext)
				if errors.Is(err, store.ErrNotFound) {
					return fail(host.Wrap(host.ENOTFOUND, err, "no live token with that value"))
				} else if err != nil {
					return fail(err)
				}
				uid, tid = t.UserID, t.ID
			default:
				if uid, err = owner.resolve(ctx, st); err != nil {
					return fail(err)
				}
			}
			n, err := userService(st, stderr).RevokeTokens(ctx, cliActor, uid, tid)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdout, "revoked %d token(s) of user %d\n", n, uid)
			return 0
		})
		return c
	})
	register("tokens", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "list (--email ADDRESS | --user ID) [flags]",
			Short: "list a user's tokens (never their values)",
			Example: `  poolhost tokens list --email ana@example.com
  poolhost tokens list --user 3 --format json`,
		}
		db := storeFlags(c)
		owner := ownerFlags(c)
		f := formatFlag(c)
		c.MarkFlagsOneRequired("email", "user")
		c.MarkFlagsMutuallyExclusive("email", "user")
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			st, err := db.open(ctx, true)
			if err != nil {
				fmt.Fprintf(stderr, "poolhost tokens list: %v\n", err)
				return 1
			}
			defer st.Close()
			fail := failer("tokens list", stderr)
			uid, err := owner.resolve(ctx, st)
			if err != nil {
				return fail(err)
			}
			ts, err := st.ListAPITokens(ctx, uid)
			if err != nil {
				return fail(err)
			}
			type row struct {
				ID         int64      `json:"id"`
				UserID     int64      `json:"user_id"`
				Name       string     `json:"name"`
				Prefix     string     `json:"prefix"`
				CreatedAt  time.Time  `json:"created_at"`
				LastUsedAt *time.Time `json:"last_used_at"`
				RevokedAt  *time.Time `json:"revoked_at"`
			}
			rows := make([]row, 0, len(ts))
			for _, t := range ts {
				rows = append(rows, row{ID: t.ID, UserID: t.UserID, Name: t.Name, Prefix: t.Prefix,
					CreatedAt: t.CreatedAt.UTC(), LastUsedAt: utcPtr(t.LastUsedAt), RevokedAt: utcPtr(t.RevokedAt)})
			}
			_ = f.write(stdout, rows, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tPREFIX\tCREATED\tLAST USED\tREVOKED")
				for _, r := range rows {
					fmt.Fprintf(w, "%d\t%s\t%s…\t%s\t%s\t%s\n", r.ID, dash(r.Name), r.Prefix, r.CreatedAt.Format(time.RFC3339),
						timeOrDash(r.LastUsedAt), timeOrDash(r.RevokedAt))
				}
			})
			return 0
		})
		return c
	})
}

// failer prints an error the way the user-facing commands do and maps it to a status.
func failer(name string, stderr io.Writer) func(error) int {
	return func(err error) int {
		fmt.Fprintf(stderr, "poolhost %s: %s\n", name, cliMessage(err))
		return exitCode(err)
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// cliMessage is what the CLI says of err. The operator's own shell is no client to hide
// causes from, and a CLI run has no log to find them in: an unexpected error is printed
// whole.
func cliMessage(err error) string {
	if host.ErrorCode(err) == host.EINTERNAL {
		return err.Error()
	}
	return host.ErrorMessage(err)
}
