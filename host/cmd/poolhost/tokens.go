package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/store"
)

// runTokens is
//
//	poolhost tokens create (--email E | --user ID) [--name N]
//	poolhost tokens revoke --id TOKEN_ID | --token PLAINTEXT | (--email E | --user ID) --all
//
// create prints the plaintext token alone on stdout — the only time it is ever shown;
// the database keeps its SHA-256.
func runTokens(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, rest := subcommand(args)
	fs, db := storeFlags("tokens "+sub, stderr)
	email := fs.String("email", "", "the token owner's email `address`")
	userID := fs.Int64("user", 0, "the token owner's user `id`")
	name := fs.String("name", "", "a label for the token (create)")
	tokenID := fs.Int64("id", 0, "the token `id` to revoke")
	plaintext := fs.String("token", "", "the token to revoke, by its `value`")
	all := fs.Bool("all", false, "revoke every token of the user")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if sub == "" && fs.NArg() > 0 {
		sub = fs.Arg(0)
	}
	usage := func() int {
		fmt.Fprintln(stderr, "usage: poolhost tokens create (--email E | --user ID) [--name N]")
		fmt.Fprintln(stderr, "       poolhost tokens revoke --id TOKEN_ID | --token VALUE | (--email E | --user ID) --all")
		return 2
	}
	hasUser := *email != "" || *userID != 0
	switch {
	case sub == "create" && hasUser:
	case sub == "revoke" && (*tokenID != 0) != (*plaintext != "") && !*all:
	case sub == "revoke" && *all && hasUser && *tokenID == 0 && *plaintext == "":
	default:
		return usage()
	}
	st, err := db.open(ctx, true)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost tokens %s: %v\n", sub, err)
		return 1
	}
	defer st.Close()
	svc := userService(st, stderr)

	fail := func(err error) int {
		fmt.Fprintf(stderr, "poolhost tokens %s: %s\n", sub, host.ErrorMessage(err))
		return exitCode(err)
	}
	resolveUser := func() (int64, error) {
		if *userID != 0 {
			return *userID, nil
		}
		u, err := st.GetUserByEmail(ctx, *email)
		if errors.Is(err, store.ErrNotFound) {
			return 0, host.Wrap(host.ENOTFOUND, err, "no user with email %s", *email)
		}
		return u.ID, err
	}

	switch sub {
	case "create":
		uid, err := resolveUser()
		if err != nil {
			return fail(err)
		}
		tok, err := svc.CreateToken(ctx, cliActor, uid, *name)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, tok.Token)
		fmt.Fprintf(stderr, "token %d (%s…) for user %d; this is the only time it is shown\n", tok.ID, tok.Prefix, uid)
	case "revoke":
		var uid, tid int64
		switch {
		case *tokenID != 0:
			t, err := st.GetAPIToken(ctx, *tokenID)
			if errors.Is(err, store.ErrNotFound) {
				return fail(host.Wrap(host.ENOTFOUND, err, "no such token"))
			} else if err != nil {
				return fail(err)
			}
			uid, tid = t.UserID, t.ID
		case *plaintext != "":
			u, t, err := st.AuthenticateToken(ctx, *plaintext)
			if errors.Is(err, store.ErrNotFound) {
				return fail(host.Wrap(host.ENOTFOUND, err, "no live token with that value"))
			} else if err != nil {
				return fail(err)
			}
			uid, tid = u.ID, t.ID
		default:
			if uid, err = resolveUser(); err != nil {
				return fail(err)
			}
		}
		n, err := svc.RevokeTokens(ctx, cliActor, uid, tid)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "revoked %d token(s) of user %d\n", n, uid)
	}
	return 0
}
