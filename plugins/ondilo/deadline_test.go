package ondilo_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
	"github.com/poolhost/poolhost/sdk"
)

// TestRefreshThenDeadlineKeepsCredentials: the access token has expired, the refresh
// works and rotates the pair (Ondilo's old refresh token is then dead), and the API
// hangs until the call's deadline. Over the plugin wire an answer sent after the
// caller's deadline never arrives: the host sees DEADLINE_EXCEEDED and nothing else, so
// the rotated tokens were lost and the account's next call, with the revoked refresh
// token, sent the user to reconnect. The adapter now stops its own work a little before
// the deadline and answers the failure with the new tokens on it, in time.
func TestRefreshThenDeadlineKeepsCredentials(t *testing.T) {
	calls := []struct {
		name string
		call func(ctx context.Context, c client, a sdk.Account) error
	}{
		{"poll", func(ctx context.Context, c client, a sdk.Account) error {
			_, err := c.PollReadings(ctx, sdk.PollRequest{Account: a})
			return err
		}},
		{"discover", func(ctx context.Context, c client, a sdk.Account) error {
			_, err := c.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: a})
			return err
		}},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, call := range calls {
			t.Run(call.name, func(t *testing.T) {
				fake := ondilotest.NewServer(t)
				fake.RotateRefreshTokens()
				target, _ := url.Parse(fake.URL)
				proxy := httputil.NewSingleHostReverseProxy(target)
				// The API hangs (until the request is given up); the token endpoint answers.
				slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if strings.HasPrefix(r.URL.Path, "/api/") {
						select {
						case <-r.Context().Done():
						case <-time.After(10 * time.Second):
						}
						return
					}
					proxy.ServeHTTP(w, r)
				}))
				t.Cleanup(slow.Close)
				c := tr.wrap(t, ondilo.New(ondilo.WithRequestSpacing(0)))
				if err := c.Configure(ctx(t), sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: slow.URL}}); err != nil {
					t.Fatal(err)
				}
				acct := account(fake, time.Now().Add(-time.Minute))

				callCtx, cancel := context.WithTimeout(ctx(t), 2*time.Second)
				defer cancel()
				err := call.call(callCtx, c, acct)
				if err == nil {
					t.Fatal("call succeeded against a hung API")
				}
				if n := fake.TokenRequests("refresh_token"); n != 1 {
					t.Fatalf("%d refreshes, want 1", n)
				}
				fresh, ok := sdk.RefreshedCredentialsOf(err)
				if !ok || fresh["refresh_token"] == "" || fresh["refresh_token"] == acct.Credentials["refresh_token"] {
					t.Fatalf("error %v carries no rotated refresh token (ok=%v): the account's tokens are lost", err, ok)
				}
				if sdk.KindOf(err) != sdk.KindTemporary {
					t.Errorf("kind %v, want temporary", sdk.KindOf(err))
				}
			})
		}
	})
}

// panicAfterToken is a transport that panics on the first API request made after the
// token endpoint answered: a bug striking once the tokens were rotated.
type panicAfterToken struct {
	next    http.RoundTripper
	refresh bool
}

func (p *panicAfterToken) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/api/") && p.refresh {
		panic("bug after the refresh")
	}
	if r.URL.Path == "/oauth2/token" {
		p.refresh = true
	}
	return p.next.RoundTrip(r)
}

// TestRefreshThenPanicKeepsCredentials: the refresh rotated the account's tokens, then
// the call panicked. The SDK recovers a panic into a temporary failure, but one that
// knew nothing of the new tokens: they were lost, and with them the account (the next
// call's refresh token is revoked). The adapter now recovers its own call's panic into
// a failure carrying the tokens it refreshed (and, for a poll, the requests it spent).
func TestRefreshThenPanicKeepsCredentials(t *testing.T) {
	calls := []struct {
		name string
		call func(ctx context.Context, c client, a sdk.Account) error
	}{
		{"poll", func(ctx context.Context, c client, a sdk.Account) error {
			_, err := c.PollReadings(ctx, sdk.PollRequest{Account: a})
			if _, ok := sdk.NextCursorOf(err); !ok && err != nil {
				t.Error("the failed poll's requests are not in a cursor")
			}
			return err
		}},
		{"discover", func(ctx context.Context, c client, a sdk.Account) error {
			_, err := c.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: a})
			return err
		}},
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		for _, call := range calls {
			t.Run(call.name, func(t *testing.T) {
				fake := ondilotest.NewServer(t)
				fake.RotateRefreshTokens()
				hc := &http.Client{Transport: &panicAfterToken{next: http.DefaultTransport}}
				c := tr.wrap(t, ondilo.New(ondilo.WithRequestSpacing(0), ondilo.WithHTTPClient(hc)))
				if err := c.Configure(ctx(t), sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: fake.URL}}); err != nil {
					t.Fatal(err)
				}
				acct := account(fake, time.Now().Add(-time.Minute))
				err := call.call(ctx(t), c, acct)
				if sdk.KindOf(err) != sdk.KindTemporary {
					t.Fatalf("error %v, want a temporary failure", err)
				}
				fresh, ok := sdk.RefreshedCredentialsOf(err)
				if !ok || fresh["refresh_token"] == "" || fresh["refresh_token"] == acct.Credentials["refresh_token"] {
					t.Fatalf("error %v carries no rotated refresh token (ok=%v): the account's tokens are lost", err, ok)
				}
			})
		}
	})
}
