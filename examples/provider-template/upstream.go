package template

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
)

// Credential keys. They are this adapter's own business: the host stores the map
// encrypted and hands it back unchanged on every call for the account.
const (
	credAccessToken  = "access_token"
	credRefreshToken = "refresh_token"
	credExpiresAt    = "expires_at" // RFC 3339, UTC
)

// expirySkew refreshes a little before the token expires, so a token does not die in
// flight between our check and Acme's.
const expirySkew = time.Minute

// maxTokenLifetime bounds the expires_in we believe from the token endpoint.
const maxTokenLifetime = 24 * time.Hour

// maxResponseBytes bounds what we read from upstream: a misbehaving API must not be able
// to exhaust the plugin's memory.
const maxResponseBytes = 4 << 20

// errInvalidGrant is Acme's answer to a code or refresh token it no longer accepts.
var errInvalidGrant = errors.New("invalid_grant")

// tokenResponse is the RFC 6749 token endpoint answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	Error        string `json:"error"`
}

// credentials turns a token response into the map the host stores. Acme rotates refresh
// tokens; a provider that does not would return none, and we keep the old one.
func (t tokenResponse) credentials(now time.Time, previous sdk.Credentials) sdk.Credentials {
	c := sdk.Credentials{credAccessToken: t.AccessToken, credRefreshToken: t.RefreshToken}
	if c[credRefreshToken] == "" {
		c[credRefreshToken] = previous[credRefreshToken]
	}
	// In seconds first: a provider's number times a second can overflow a Duration (to a
	// token refreshed on every call, or never), so a lifetime past maxTokenLifetime is
	// taken as that.
	if t.ExpiresIn > 0 {
		life := maxTokenLifetime
		if t.ExpiresIn < int(maxTokenLifetime/time.Second) {
			life = time.Duration(t.ExpiresIn) * time.Second
		}
		c[credExpiresAt] = now.Add(life).UTC().Format(time.RFC3339)
	}
	return c
}

// token calls Acme's token endpoint with one grant. Client credentials go in the form
// body (client_secret_post), as Acme documents; many providers want HTTP Basic instead.
func (a *Adapter) token(ctx context.Context, cfg *config, form url.Values) (tokenResponse, error) {
	form.Set("client_id", cfg.clientID)
	form.Set("client_secret", cfg.clientSecret)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.baseURL.JoinPath("oauth", "token").String(), strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("build token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var tok tokenResponse
	status, err := a.do(req, &tok)
	switch {
	case err != nil:
		return tokenResponse{}, err
	case status == http.StatusOK && tok.AccessToken != "":
		return tok, nil
	case tok.Error == "invalid_grant":
		return tokenResponse{}, errInvalidGrant
	case tok.Error == "invalid_client":
		// Our own client credentials are wrong: the user cannot fix that by
		// reconnecting, the operator must fix the config. Temporary keeps the account.
		return tokenResponse{}, sdk.Temporary("acme rejected the OAuth client credentials; check %s and %s", SettingClientID, SecretClientSecret)
	default:
		return tokenResponse{}, statusError("token endpoint", status)
	}
}

// do sends req and decodes a JSON body into out (for any status, so error bodies can be
// inspected). Network failures are temporary: the host retries them. A 429 or 503 naming
// when to come back (Retry-After) is sdk.RetryAfter: the host polls the account no
// sooner, where a plain temporary error would have it ask again after its backoff and
// spend the user's quota.
func (a *Adapter) do(req *http.Request, out any) (int, error) {
	resp, err := a.client.Do(req)
	if err != nil {
		// The error names the URL: fine here, Acme's URLs carry no secrets (the token
		// travels in a header). Check that before copying this for your provider.
		return 0, sdk.Temporary("call acme: %v", err)
	}
	defer resp.Body.Close()
	if s := resp.StatusCode; s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable {
		if after := sdk.RetryAfterHeader(resp.Header, a.now()); after > 0 {
			return s, sdk.RetryAfter(after, "acme %s answered %d; retry in %v", req.URL.Path, s, after)
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return 0, sdk.Temporary("read acme %s: %v", req.URL.Path, err)
	}
	if len(body) > 0 && out != nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, out); err != nil && resp.StatusCode == http.StatusOK {
			// A 200 we cannot parse means Acme changed its API: retrying won't help
			// until the plugin is updated, but the data is not lost either, so it
			// stays temporary and shows up in the operator's error counters.
			return resp.StatusCode, sdk.Temporary("decode acme %s: %v", req.URL.Path, err)
		}
	}
	return resp.StatusCode, nil
}

// statusError maps an unexpected upstream status to an error kind the host can act on.
func statusError(what string, status int) error {
	switch {
	case status == http.StatusForbidden:
		// The user revoked our scope in Acme's settings: only reconnecting fixes it.
		return sdk.Reauth("%s: acme answered 403", what)
	case status == http.StatusTooManyRequests, status >= 500:
		return sdk.Temporary("%s: acme answered %d", what, status)
	default:
		return sdk.Temporary("%s: unexpected acme status %d", what, status)
	}
}

// session makes API calls for one account and refreshes its tokens when needed. After
// the calls, refreshed() tells what to hand back to the host.
type session struct {
	a       *Adapter
	cfg     *config
	creds   sdk.Credentials
	renewed bool
}

func (a *Adapter) session(account sdk.Account) (*session, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	if account.Credentials[credAccessToken] == "" && account.Credentials[credRefreshToken] == "" {
		return nil, sdk.Reauth("account has no acme tokens")
	}
	return &session{a: a, cfg: cfg, creds: account.Credentials}, nil
}

// refreshed returns the new credentials when a call refreshed them, nil ("unchanged")
// otherwise. Always put it in the result: with rotating refresh tokens, losing the new
// pair means the account has to be reconnected.
func (s *session) refreshed() sdk.Credentials {
	if !s.renewed {
		return nil
	}
	return s.creds
}

// fail returns err carrying the refreshed credentials, if the call refreshed them
// before failing. Acme rotates refresh tokens: once a refresh succeeded the old pair is
// dead, so an error that dropped the new one (the next request got a 503, a quota) would
// lock the account out. Every error after a.session() goes through here.
func (s *session) fail(err error) error {
	return sdk.WithRefreshedCredentials(err, s.refreshed())
}

func (s *session) expired() bool {
	at, err := time.Parse(time.RFC3339, s.creds[credExpiresAt])
	if err != nil {
		return s.creds[credAccessToken] == "" // no expiry recorded: trust the token until a 401
	}
	return !s.a.now().Add(expirySkew).Before(at)
}

// refresh trades the refresh token for new tokens. A refused refresh token means the
// user revoked access or the token died: only the user can fix that, so it is Reauth.
func (s *session) refresh(ctx context.Context) error {
	rt := s.creds[credRefreshToken]
	if rt == "" {
		return sdk.Reauth("acme access token expired and there is no refresh token")
	}
	tok, err := s.a.token(ctx, s.cfg, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if errors.Is(err, errInvalidGrant) {
		return sdk.Reauth("acme refused the refresh token")
	}
	if err != nil {
		return fmt.Errorf("refresh acme token: %w", err)
	}
	s.creds = tok.credentials(s.a.now(), s.creds)
	s.renewed = true
	return nil
}

// getJSON GETs an API path with the account's bearer token, refreshing it first when it
// is known to be expired, and once more when Acme answers 401 anyway (tokens can be
// revoked early).
func (s *session) getJSON(ctx context.Context, path []string, query url.Values, out any) error {
	if s.expired() {
		if err := s.refresh(ctx); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		u := s.cfg.baseURL.JoinPath(path...)
		u.RawQuery = query.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("build request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+s.creds[credAccessToken])
		req.Header.Set("Accept", "application/json")
		status, err := s.a.do(req, out)
		switch {
		case err != nil:
			return err
		case status == http.StatusOK:
			return nil
		case status == http.StatusUnauthorized && attempt == 0:
			if err := s.refresh(ctx); err != nil {
				return err
			}
		case status == http.StatusUnauthorized:
			return sdk.Reauth("acme rejected a freshly refreshed token")
		default:
			return statusError("GET "+strings.Join(path, "/"), status)
		}
	}
}

// Acme API shapes. Only the fields the adapter uses are declared.
type (
	acmeMe struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	acmeDevice struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Model    string `json:"model"`
		Firmware string `json:"firmware"`
	}
	acmeDevices struct {
		Devices []acmeDevice `json:"devices"`
	}
	acmeReading struct {
		Type       string   `json:"type"`
		Value      *float64 `json:"value"` // a pointer: Acme sends null for "no value"
		Unit       string   `json:"unit"`
		MeasuredAt string   `json:"measured_at"`
		Status     string   `json:"status"`
	}
	acmeReadingsPage struct {
		Readings   []json.RawMessage `json:"readings"`
		NextCursor string            `json:"next_cursor"`
		HasMore    bool              `json:"has_more"`
	}
)

func (s *session) me(ctx context.Context) (acmeMe, error) {
	var me acmeMe
	if err := s.getJSON(ctx, []string{"api", "me"}, nil, &me); err != nil {
		return acmeMe{}, fmt.Errorf("get acme account: %w", err)
	}
	if me.ID == "" {
		return acmeMe{}, sdk.Temporary("acme account has no id")
	}
	return me, nil
}

func (s *session) devices(ctx context.Context) ([]acmeDevice, error) {
	var page acmeDevices
	if err := s.getJSON(ctx, []string{"api", "devices"}, nil, &page); err != nil {
		return nil, fmt.Errorf("list acme devices: %w", err)
	}
	return page.Devices, nil
}

func (s *session) readings(ctx context.Context, deviceID, since string) (acmeReadingsPage, error) {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	var page acmeReadingsPage
	if err := s.getJSON(ctx, []string{"api", "devices", deviceID, "readings"}, q, &page); err != nil {
		return acmeReadingsPage{}, fmt.Errorf("get acme readings for device %s: %w", deviceID, err)
	}
	return page, nil
}
