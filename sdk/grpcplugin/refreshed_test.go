package grpcplugin_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestRefreshedCredentialsOnError checks that credentials an adapter refreshed before
// failing cross the wire on the error (an ErrorDetail in the status), with the error's
// kind and message intact, for both calls that carry an account.
func TestRefreshedCredentialsOnError(t *testing.T) {
	calls := []struct {
		name    string
		install func(f *fakeAdapter, err error)
		call    func(ctx context.Context, c *grpcplugin.Client) error
	}{
		{
			name: "DiscoverDevices",
			install: func(f *fakeAdapter, err error) {
				f.discover = func(context.Context, sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
					return sdk.DiscoverResult{}, err
				}
			},
			call: func(ctx context.Context, c *grpcplugin.Client) error {
				_, err := c.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: acct})
				return err
			},
		},
		{
			name: "PollReadings",
			install: func(f *fakeAdapter, err error) {
				f.poll = func(context.Context, sdk.PollRequest) (sdk.PollResult, error) {
					return sdk.PollResult{}, err
				}
			},
			call: func(ctx context.Context, c *grpcplugin.Client) error {
				_, err := c.PollReadings(ctx, sdk.PollRequest{Account: acct, Cursor: "c-1"})
				return err
			},
		},
	}
	cases := []struct {
		name      string
		err       error
		kind      sdk.ErrorKind
		message   string
		wantCreds sdk.Credentials // nil: none attached
	}{
		{"temporary", sdk.WithRefreshedCredentials(sdk.Temporary("upstream 503"), fresh), sdk.KindTemporary, "upstream 503", fresh},
		{"quota", sdk.WithRefreshedCredentials(sdk.Temporary("quota exceeded"), fresh), sdk.KindTemporary, "quota exceeded", fresh},
		{"reauth", sdk.WithRefreshedCredentials(sdk.Reauth("account revoked"), fresh), sdk.KindReauth, "account revoked", fresh},
		{"permanent", sdk.WithRefreshedCredentials(sdk.Permanent("bad device list"), fresh), sdk.KindPermanent, "bad device list", fresh},
		{
			"wrapped outside", fmt.Errorf("list pools: %w", sdk.WithRefreshedCredentials(sdk.Temporary("503"), fresh)),
			sdk.KindTemporary, "list pools: 503", fresh,
		},
		{
			"wrapped inside", sdk.WithRefreshedCredentials(fmt.Errorf("list pools: %w", sdk.Permanent("garbage")), fresh),
			sdk.KindPermanent, "list pools: garbage", fresh,
		},
		{"plain error", sdk.WithRefreshedCredentials(errors.New("connection reset"), fresh), sdk.KindTemporary, "connection reset", fresh},
		{"set but empty", sdk.WithRefreshedCredentials(sdk.Temporary("503"), sdk.Credentials{}), sdk.KindTemporary, "503", sdk.Credentials{}},
		{"none", sdk.Temporary("503"), sdk.KindTemporary, "503", nil},
	}
	for _, rc := range calls {
		for _, tc := range cases {
			t.Run(rc.name+"/"+tc.name, func(t *testing.T) {
				f := &fakeAdapter{}
				rc.install(f, tc.err)
				c := sdktest.Connect(t, f)

				err := rc.call(t.Context(), c)
				if err == nil {
					t.Fatal("call succeeded, want error")
				}
				var e *sdk.Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v (%T) is not an *sdk.Error", err, err)
				}
				if e.Kind != tc.kind || e.Message != tc.message {
					t.Errorf("got kind %v message %q, want %v %q", e.Kind, e.Message, tc.kind, tc.message)
				}
				if got := sdk.KindOf(err); got != tc.kind {
					t.Errorf("KindOf = %v, want %v", got, tc.kind)
				}
				got, ok := sdk.RefreshedCredentialsOf(err)
				if ok != (tc.wantCreds != nil) || !reflect.DeepEqual(got, tc.wantCreds) {
					t.Errorf("RefreshedCredentialsOf = %v, %v; want %v, %v", got, ok, tc.wantCreds, tc.wantCreds != nil)
				}
				// A host that wraps the error (pluginmgr adds the provider and method) must
				// still find them.
				wrapped := fmt.Errorf("acme discover_devices: %w", err)
				if got2, ok2 := sdk.RefreshedCredentialsOf(wrapped); ok2 != ok || !reflect.DeepEqual(got2, got) {
					t.Errorf("through a wrap: %v, %v", got2, ok2)
				}
			})
		}
	}
}

// TestNextCursorOnError checks that the cursor a failed poll hands back
// (sdk.WithNextCursor: the quota it spent before failing) crosses the wire on the error,
// "" included, beside refreshed credentials and a Retry-After, the error's kind and
// message intact; and that an error without one has none.
func TestNextCursorOnError(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		kind       sdk.ErrorKind
		wantCursor string
		wantOK     bool
		wantCreds  bool
		wantAfter  time.Duration
	}{
		{"temporary", sdk.WithNextCursor(sdk.Temporary("upstream 503"), "c-2"), sdk.KindTemporary, "c-2", true, false, 0},
		{"empty", sdk.WithNextCursor(sdk.Temporary("upstream 503"), ""), sdk.KindTemporary, "", true, false, 0},
		{"reauth", sdk.WithNextCursor(sdk.Reauth("revoked"), "c-2"), sdk.KindReauth, "c-2", true, false, 0},
		{
			"with credentials and Retry-After",
			sdk.WithRefreshedCredentials(sdk.WithNextCursor(sdk.RetryAfter(time.Minute, "quota"), "c-2"), fresh),
			sdk.KindTemporary, "c-2", true, true, time.Minute,
		},
		{"none", sdk.Temporary("503"), sdk.KindTemporary, "", false, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAdapter{poll: func(context.Context, sdk.PollRequest) (sdk.PollResult, error) {
				return sdk.PollResult{}, tc.err
			}}
			c := sdktest.Connect(t, f)
			_, err := c.PollReadings(t.Context(), sdk.PollRequest{Account: acct, Cursor: "c-1"})
			if sdk.KindOf(err) != tc.kind {
				t.Fatalf("error %v, kind %v; want %v", err, sdk.KindOf(err), tc.kind)
			}
			got, ok := sdk.NextCursorOf(fmt.Errorf("acme poll_readings: %w", err))
			if got != tc.wantCursor || ok != tc.wantOK {
				t.Errorf("NextCursorOf = %q, %v; want %q, %v", got, ok, tc.wantCursor, tc.wantOK)
			}
			if _, ok := sdk.RefreshedCredentialsOf(err); ok != tc.wantCreds {
				t.Errorf("refreshed credentials found %v, want %v", ok, tc.wantCreds)
			}
			if got := sdk.RetryAfterOf(err); got != tc.wantAfter {
				t.Errorf("RetryAfterOf = %v, want %v", got, tc.wantAfter)
			}
		})
	}
}

// TestRefreshedCredentialsAtDeadline: an adapter that refreshed tokens and then waited
// on an upstream until its context ended answers the failure with the tokens on it. Its
// context ends before the caller's deadline (sdk's answer margin), so that answer
// reaches the caller instead of a bare DEADLINE_EXCEEDED that loses the tokens.
func TestRefreshedCredentialsAtDeadline(t *testing.T) {
	hung := func(ctx context.Context) error {
		<-ctx.Done()
		return sdk.WithRefreshedCredentials(fmt.Errorf("list devices: %w", ctx.Err()), fresh)
	}
	f := &fakeAdapter{
		poll: func(ctx context.Context, _ sdk.PollRequest) (sdk.PollResult, error) {
			return sdk.PollResult{}, hung(ctx)
		},
		discover: func(ctx context.Context, _ sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
			return sdk.DiscoverResult{}, hung(ctx)
		},
	}
	c := sdktest.Connect(t, f)
	for name, call := range map[string]func(context.Context) error{
		"poll": func(ctx context.Context) error {
			_, err := c.PollReadings(ctx, sdk.PollRequest{Account: acct})
			return err
		},
		"discover": func(ctx context.Context) error {
			_, err := c.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: acct})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			err := call(ctx)
			if got, ok := sdk.RefreshedCredentialsOf(err); !ok || !reflect.DeepEqual(got, fresh) {
				t.Fatalf("error %v carries %v, %v; want the refreshed credentials", err, got, ok)
			}
			if ctx.Err() != nil {
				t.Error("answered after the caller's deadline")
			}
		})
	}
}
