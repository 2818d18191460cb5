package ondilo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
)

// Credential keys stored by the host for an Ondilo account.
const (
	credAccessToken  = "access_token"
	credRefreshToken = "refresh_token"
	credExpiry       = "expiry"
)

const (
	apiPrefix = "/api/customer/v1"
	// maxBody bounds what we read from upstream; Ondilo answers are a few kilobytes.
	maxBody = 1 << 20
	// expirySkew refreshes a little early so a token does not lapse mid-call.
	expirySkew = time.Minute
	// defaultTokenLifetime applies when the token response omits expires_in.
	defaultTokenLifetime = time.Hour
	// maxTokenLifetime bounds the expires_in we believe: Ondilo's tokens live an hour,
	// and a larger answer (or one that would overflow a Duration) is taken as this.
	maxTokenLifetime = 24 * time.Hour
)

// errNotFound marks a 404, which some calls treat as "nothing there" (a pool without a
// device) rather than a failure.
var errNotFound = errors.New("not found")

// errForbidden marks a 403. On /pools it is a refused grant (reauth); on one pool's
// device or measures, asked with the very token /pools just accepted, it is that pool
// being out of the user's reach (a share withdrawn meanwhile), not the account's grant.
var errForbidden = errors.New("forbidden")

// tokenResponse is Ondilo's OAuth2 token endpoint answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

// session is one adapter call's view of an account: its credentials, which may be
// refreshed along the way, and the settings in force when the call started.
type session struct {
	cfg       settings
	http      *http.Client
	now       func() time.Time
	creds     sdk.Credentials
	refreshed bool
	// spacing and last pace the call's requests under Ondilo's 5 requests/second: a
	// poll of several pools would otherwise burst, be throttled, and fail the same way
	// on every retry.
	spacing time.Duration
	last    time.Time
	// calls counts the API requests made (token requests aside): what the call spent
	// of the user's hourly quota.
	calls int
}

// pace waits until the next request is allowed.
func (s *session) pace(ctx context.Context) error {
	if s.spacing <= 0 {
		return nil
	}
	if wait := time.Until(s.last.Add(s.spacing)); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("pace ondilo requests: %w", ctx.Err())
		case <-t.C:
		}
	}
	s.last = time.Now()
	return nil
}

// refreshedCredentials is what a result hands back: nil unless tokens changed.
func (s *session) refreshedCredentials() sdk.Credentials {
	if !s.refreshed {
		return nil
	}
	return s.creds
}

// fail returns err carrying the refreshed credentials, if the call refreshed them
// before failing (a 503 or the quota on the next request): the host must store them
// anyway, or the next call starts from a token Ondilo may already have replaced.
func (s *session) fail(err error) error {
	return sdk.WithRefreshedCredentials(err, s.refreshedCredentials())
}

// panicked is the failure a call's recovered panic becomes, logged as the SDK logs the
// panics it recovers. The SDK would answer it too, but knowing nothing of the tokens
// the call refreshed before it: with rotating refresh tokens the stored pair is then
// dead and the user reconnects. A call that recovers its own (PollReadings,
// DiscoverDevices) hands them back on this error (session.fail).
func panicked(what string, r any) error {
	// The panic value stays in the plugin's log: it may quote input.
	sdk.Logger().Error("adapter panicked", "method", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return sdk.Temporary("ondilo %s: plugin panicked (see plugin log)", what)
}

// getJSON GETs an API path and decodes the answer into out. It refreshes an expired
// access token first, and refreshes and retries once when the API answers 401.
func (s *session) getJSON(ctx context.Context, path string, query url.Values, out any) error {
	if s.needsRefresh() {
		if err := s.refresh(ctx); err != nil {
			return err
		}
	}
	r, err := s.get(ctx, path, query)
	if err != nil {
		return err
	}
	if r.status == http.StatusUnauthorized {
		if s.refreshed {
			// A token we just obtained is already refused: the grant is gone.
			return sdk.Reauth("ondilo rejected a freshly refreshed access token")
		}
		if err := s.refresh(ctx); err != nil {
			return err
		}
		if r, err = s.get(ctx, path, query); err != nil {
			return err
		}
		if r.status == http.StatusUnauthorized {
			return sdk.Reauth("ondilo rejected a freshly refreshed access token")
		}
	}
	if err := checkStatus("GET "+path, r, s.now()); err != nil {
		return err
	}
	if r.status == http.StatusNoContent || len(bytes.TrimSpace(r.body)) == 0 {
		// Nothing there (a pool without an ICO, an ICO without measures yet): a quiet
		// answer, not an unreadable one that would fail every poll of the account.
		return nil
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		return sdk.Temporary("decode ondilo GET %s: %v", path, err)
	}
	return nil
}

func (s *session) get(ctx context.Context, path string, query url.Values) (reply, error) {
	if err := s.pace(ctx); err != nil {
		return reply{}, err
	}
	s.calls++
	u := s.cfg.baseURL + apiPrefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return reply{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.creds[credAccessToken])
	req.Header.Set("Accept", "application/json")
	return do(s.http, req)
}

func (s *session) needsRefresh() bool {
	if s.creds[credAccessToken] == "" {
		return true
	}
	exp, err := time.Parse(time.RFC3339, s.creds[credExpiry])
	if err != nil {
		// No usable expiry: try the token and let a 401 tell us.
		return false
	}
	return !s.now().Before(exp.Add(-expirySkew))
}

// refresh trades the refresh token for a new access token.
func (s *session) refresh(ctx context.Context) error {
	rt := s.creds[credRefreshToken]
	if rt == "" {
		return sdk.Reauth("ondilo account has no refresh token; reconnect it")
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {rt},
		"client_id":     {s.cfg.clientID},
	}
	tok, err := requestToken(ctx, s.http, s.cfg, form, s.now())
	if err != nil {
		var te *tokenError
		if errors.As(err, &te) {
			return sdk.Reauth("ondilo refused to refresh the access token (HTTP %d); reconnect the account", te.status)
		}
		return err
	}
	next := credentialsFrom(tok, s.now())
	if next[credRefreshToken] == "" {
		// Ondilo may keep the refresh token unchanged and omit it.
		next[credRefreshToken] = rt
	}
	s.creds = next
	s.refreshed = true
	return nil
}

// tokenError is a token endpoint refusal (400/401, not over quota): a bad code or a
// revoked grant.
type tokenError struct{ status int }

func (e *tokenError) Error() string { return fmt.Sprintf("token endpoint refused: HTTP %d", e.status) }

// requestToken POSTs a form to the token endpoint.
func requestToken(ctx context.Context, hc *http.Client, cfg settings, form url.Values, now time.Time) (tokenResponse, error) {
	if cfg.clientSecret != "" {
		form.Set("client_secret", cfg.clientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.baseURL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("build token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	r, err := do(hc, req)
	if err != nil {
		return tokenResponse{}, err
	}
	// Over quota first: Ondilo documents the {"message":"Limit Exceeded"} body, not its
	// status, and a quota answer on a 400 or 401 taken for a refusal would send the user
	// to reconnect (or a connect back to the start) for what an hour's wait cures.
	if (r.status == http.StatusBadRequest || r.status == http.StatusUnauthorized) && !isQuota(r.status, r.body) {
		return tokenResponse{}, &tokenError{status: r.status}
	}
	if err := checkStatus("POST /oauth2/token", r, now); err != nil {
		return tokenResponse{}, err
	}
	var tok tokenResponse
	if err := json.Unmarshal(r.body, &tok); err != nil {
		return tokenResponse{}, sdk.Temporary("decode ondilo token response: %v", err)
	}
	if tok.AccessToken == "" {
		return tokenResponse{}, sdk.Temporary("ondilo token response carries no access_token")
	}
	return tok, nil
}

func credentialsFrom(tok tokenResponse, now time.Time) sdk.Credentials {
	// In seconds first: the answer's number times a second overflows a Duration.
	life := defaultTokenLifetime
	switch secs := tok.ExpiresIn; {
	case secs > int64(maxTokenLifetime/time.Second):
		life = maxTokenLifetime
	case secs > 0:
		life = time.Duration(secs) * time.Second
	}
	return sdk.Credentials{
		credAccessToken:  tok.AccessToken,
		credRefreshToken: tok.RefreshToken,
		credExpiry:       now.Add(life).UTC().Format(time.RFC3339),
	}
}

// reply is an upstream answer: its status, its bounded body and its headers.
type reply struct {
	status int
	body   []byte
	header http.Header
}

// do sends req and reads a bounded body. Transport failures are temporary; the
// caller's context error is kept in the chain so cancellation stays recognisable.
func do(hc *http.Client, req *http.Request) (reply, error) {
	resp, err := hc.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return reply{}, fmt.Errorf("call ondilo %s %s: %w", req.Method, req.URL.Path, ctxErr)
		}
		return reply{}, sdk.Temporary("call ondilo %s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return reply{}, sdk.Temporary("read ondilo %s %s: %v", req.Method, req.URL.Path, err)
	}
	return reply{status: resp.StatusCode, body: body, header: resp.Header}, nil
}

// checkStatus maps an upstream answer to an sdk error kind. Over quota or unavailable,
// a Retry-After the answer carries goes back to the host (sdk.RetryAfter), which then
// polls the account no sooner.
func checkStatus(what string, r reply, now time.Time) error {
	status, body := r.status, r.body
	if isQuota(status, body) {
		const msg = "ondilo API quota exceeded on %s (30 requests/hour, 5/second per user); retry later"
		if after := sdk.RetryAfterHeader(r.header, now); after > 0 {
			return sdk.RetryAfter(after, msg, what)
		}
		return sdk.Temporary(msg, what)
	}
	if status == http.StatusServiceUnavailable {
		if after := sdk.RetryAfterHeader(r.header, now); after > 0 {
			return sdk.RetryAfter(after, "ondilo %s failed upstream: HTTP %d", what, status)
		}
	}
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusNotFound:
		return fmt.Errorf("ondilo %s: %w", what, errNotFound)
	case status == http.StatusForbidden:
		return fmt.Errorf("%w (%w)", sdk.Reauth("ondilo refused %s (HTTP %d); reconnect the account", what, status), errForbidden)
	case status == http.StatusUnauthorized:
		return sdk.Reauth("ondilo refused %s (HTTP %d); reconnect the account", what, status)
	case status >= 500 || status == http.StatusRequestTimeout:
		return sdk.Temporary("ondilo %s failed upstream: HTTP %d", what, status)
	default:
		return sdk.Permanent("ondilo %s rejected: HTTP %d", what, status)
	}
}

// isQuota recognises Ondilo's throttling: HTTP 429, or the gateway's
// {"message":"Limit Exceeded"} body whatever the status.
func isQuota(status int, body []byte) bool {
	if status == http.StatusTooManyRequests {
		return true
	}
	if !bytes.Contains(body, []byte("Limit Exceeded")) {
		return false
	}
	var m struct {
		Message string `json:"message"`
	}
	return json.Unmarshal(body, &m) == nil && strings.EqualFold(m.Message, "Limit Exceeded")
}
