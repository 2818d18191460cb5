package ondilo

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/poolhost/poolhost/sdk"
)

// ID is the provider id; the host's config block must use the same.
const ID = "ondilo"

// Version is this adapter's own version, shown to operators.
const Version = "0.1.0"

// Setting and secret keys.
const (
	SettingBaseURL     = "base_url"
	SettingClientID    = "client_id"
	SecretClientSecret = "client_secret"
)

// Defaults for the public Ondilo customer API.
const (
	DefaultBaseURL  = "https://interop.ondilo.com"
	DefaultClientID = "customer_api"
)

// MinPollInterval keeps a typical account inside the 30 requests/hour quota; see the
// package documentation.
const MinPollInterval = 15 * time.Minute

// DefaultRequestSpacing keeps one call's requests under Ondilo's 5 requests/second,
// with a margin for the clock of Ondilo's gateway.
const DefaultRequestSpacing = 250 * time.Millisecond

// measurePeriod is how often an ICO measures (Ondilo's documentation: once an hour), and
// publishDelay how long after its value_time a measure is trusted to be readable through
// the API. A poll tells the host not to come back before the next measure can be there.
const (
	measurePeriod = time.Hour
	publishDelay  = 5 * time.Minute
)

// deviceRecheck is how long a pool's cached device uuid is trusted before a poll asks
// /pools/{id}/device again (an ICO may be replaced).
const deviceRecheck = 24 * time.Hour

type settings struct {
	baseURL      string
	clientID     string
	clientSecret string
}

// Adapter implements [sdk.Adapter] and [sdk.Poller] for Ondilo. It keeps no account
// state: every call works from the credentials and cursor it is given.
type Adapter struct {
	sdk.UnsupportedAdapter // no webhooks

	http    *http.Client
	now     func() time.Time
	spacing time.Duration

	mu  sync.RWMutex
	cfg settings
}

// Option tunes an Adapter; tests use them, production does not need any.
type Option func(*Adapter)

// WithHTTPClient sets the client used to reach Ondilo.
func WithHTTPClient(c *http.Client) Option { return func(a *Adapter) { a.http = c } }

// WithRequestSpacing sets the minimum gap between two API requests of one call
// (default [DefaultRequestSpacing]; 0 disables pacing, for tests against a fake).
func WithRequestSpacing(d time.Duration) Option { return func(a *Adapter) { a.spacing = d } }

// WithClock sets the clock used for token expiry and cursor bookkeeping.
func WithClock(now func() time.Time) Option { return func(a *Adapter) { a.now = now } }

// New returns an Ondilo adapter using the public defaults until Configure says otherwise.
func New(opts ...Option) *Adapter {
	a := &Adapter{
		// The host's per-method deadline is the real bound; this only stops a stuck
		// connection from outliving a call made without one. sdk.HTTPClient puts the
		// calls in the host's trace when tracing is on.
		http:    sdk.HTTPClient(30 * time.Second),
		now:     time.Now,
		spacing: DefaultRequestSpacing,
		cfg:     settings{baseURL: DefaultBaseURL, clientID: DefaultClientID},
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

var _ interface {
	sdk.Adapter
	sdk.Poller
} = (*Adapter)(nil)

// Describe implements [sdk.Adapter].
func (a *Adapter) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{
		ID:              ID,
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{
			Connect:         sdk.ConnectOAuth2,
			Poll:            true,
			MinPollInterval: MinPollInterval,
		},
		Settings: []sdk.Option{
			{Key: SettingBaseURL, Type: sdk.OptionURL, Default: DefaultBaseURL, Help: "Ondilo's API root; change it only for a test double."},
			{Key: SettingClientID, Default: DefaultClientID, Help: "The OAuth client id Ondilo issued (its public customer_api client by default)."},
			{Key: SecretClientSecret, Secret: true, Help: "The OAuth client secret, when Ondilo issued one."},
		},
	}, nil
}

// Configure implements [sdk.Adapter]. Every setting is optional; an unset one falls back
// to its default, so a reload that removes a setting restores the default.
func (a *Adapter) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	cfg := settings{
		baseURL:      DefaultBaseURL,
		clientID:     DefaultClientID,
		clientSecret: req.Secrets[SecretClientSecret],
	}
	if v := strings.TrimSpace(req.Settings[SettingBaseURL]); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return sdk.InvalidInput("setting %s=%q: want an absolute http(s) URL", SettingBaseURL, v)
		}
		cfg.baseURL = strings.TrimRight(v, "/")
	}
	if v := strings.TrimSpace(req.Settings[SettingClientID]); v != "" {
		cfg.clientID = v
	}
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
	return nil
}

func (a *Adapter) settings() settings {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

func (a *Adapter) session(creds sdk.Credentials) *session {
	c := make(sdk.Credentials, len(creds))
	for k, v := range creds {
		c[k] = v
	}
	return &session{cfg: a.settings(), http: a.http, now: a.now, creds: c, spacing: a.spacing}
}

// Connect implements [sdk.Adapter]: it builds the consent page URL.
func (a *Adapter) Connect(_ context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	if req.RedirectURI == "" || req.State == "" {
		return sdk.ConnectResult{}, sdk.InvalidInput("ondilo connect needs a redirect URI and a state")
	}
	cfg := a.settings()
	q := url.Values{
		"client_id":     {cfg.clientID},
		"response_type": {"code"},
		"redirect_uri":  {req.RedirectURI},
		"scope":         {"api"},
		"state":         {req.State},
	}
	return sdk.ConnectResult{AuthorizeURL: cfg.baseURL + "/oauth2/authorize?" + q.Encode()}, nil
}

// Callback implements [sdk.Adapter]: it exchanges the code for tokens and identifies the
// account by its oldest pool or, when it has none yet, by its user (see accountID).
func (a *Adapter) Callback(ctx context.Context, req sdk.CallbackRequest) (sdk.Linkage, error) {
	if e := req.Query["error"]; e != "" {
		return sdk.Linkage{}, sdk.InvalidInput("ondilo authorization failed: %s", e)
	}
	if req.Code == "" {
		return sdk.Linkage{}, sdk.InvalidInput("ondilo callback carries no authorization code")
	}
	cfg := a.settings()
	form := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {req.Code},
		"client_id":    {cfg.clientID},
		"redirect_uri": {req.RedirectURI},
	}
	tok, err := requestToken(ctx, a.http, cfg, form, a.now())
	if err != nil {
		var te *tokenError
		if errors.As(err, &te) {
			return sdk.Linkage{}, sdk.InvalidInput("ondilo rejected the authorization code (HTTP %d); start the connection again", te.status)
		}
		return sdk.Linkage{}, fmt.Errorf("exchange code: %w", err)
	}
	if tok.RefreshToken == "" {
		// Without a refresh token the link would die within the hour.
		return sdk.Linkage{}, sdk.Temporary("ondilo token response carries no refresh_token")
	}
	s := a.session(credentialsFrom(tok, a.now()))
	pools, err := s.pools(ctx)
	if err != nil {
		return sdk.Linkage{}, fmt.Errorf("list pools: %w", err)
	}
	if len(pools) == 0 {
		u, err := s.userInfo(ctx)
		if errors.Is(err, errNotFound) {
			return sdk.Linkage{}, sdk.InvalidInput("the ondilo account has no pool; add the ICO to a pool in the Ondilo app, then connect again")
		}
		if err != nil {
			return sdk.Linkage{}, fmt.Errorf("get user info of an account without pools: %w", err)
		}
		id, ok := userAccountID(u)
		if !ok {
			return sdk.Linkage{}, sdk.InvalidInput("the ondilo account has no pool and Ondilo does not say who its user is; add the ICO to a pool in the Ondilo app, then connect again")
		}
		return sdk.Linkage{ExternalAccountID: id, DisplayName: userDisplayName(u), Credentials: s.creds}, nil
	}
	oldest := slices.MinFunc(pools, func(x, y pool) int { return cmp.Compare(x.ID, y.ID) })
	link := sdk.Linkage{
		ExternalAccountID: "pool:" + strconv.FormatInt(oldest.ID, 10),
		DisplayName:       displayName(pools),
		Credentials:       s.creds,
	}
	// The account may have been linked before it had a pool, under its user's id: the
	// host renews that account rather than linking a second one. Only such accounts
	// need it, so a /user/info that fails (an API without it, a hiccup) leaves the
	// linkage as it always was.
	if u, err := s.userInfo(ctx); err == nil {
		if id, ok := userAccountID(u); ok {
			link.AlternateAccountIDs = []string{id}
		}
	} else if ctx.Err() != nil {
		return sdk.Linkage{}, fmt.Errorf("get user info: %w", err)
	}
	link.Credentials = s.creds // /user/info may have refreshed them
	return link, nil
}

// userAccountID is the external id of an account linked while it had no pool:
// "user:" and the hex SHA-256 (first 16 bytes) of its user's email, lowercased. Ondilo's
// /user/info gives no user id, and the email is the user's login; it is hashed so that
// the address does not spread to logs and audit rows with the id. ok is false when
// Ondilo gave no email.
func userAccountID(u userInfo) (string, bool) {
	email := strings.ToLower(strings.TrimSpace(u.Email))
	if email == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(email))
	return "user:" + hex.EncodeToString(sum[:16]), true
}

// userDisplayName names an account without pools after its user.
func userDisplayName(u userInfo) string {
	if name := strings.TrimSpace(strings.TrimSpace(u.FirstName) + " " + strings.TrimSpace(u.LastName)); name != "" {
		return "Ondilo: " + name
	}
	return "Ondilo (no pool)"
}

func displayName(pools []pool) string {
	names := make([]string, 0, len(pools))
	for _, p := range pools {
		if p.Name != "" {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 || len(names) > 3 {
		return fmt.Sprintf("Ondilo (%d pools)", len(pools))
	}
	return "Ondilo: " + strings.Join(names, ", ")
}

// suggestion is what Ondilo's /pools entry says about the pool's configuration: the
// volume the user entered in the Ondilo app (m³), and its type ("outdoor_inground_pool",
// "indoor_spa", ...) and disinfection. It is configuration, not a measurement: the host
// only shows it, and applies it when the user accepts. nil when Ondilo says nothing the
// host's vocabulary can hold.
func suggestion(p pool) *sdk.PoolSuggestion {
	var s sdk.PoolSuggestion
	if p.Volume > 0 {
		s.VolumeLiters = p.Volume * 1000
	}
	t := strings.ToLower(p.Type)
	switch {
	case strings.Contains(t, "spa"):
		s.Kind = "spa"
	case strings.Contains(t, "pool"):
		s.Kind = "pool"
	}
	switch {
	case strings.HasPrefix(t, "outdoor"):
		s.Location = "outdoor"
	case strings.HasPrefix(t, "indoor"):
		s.Location = "indoor"
	}
	switch primary := strings.ToLower(p.Disinfection.Primary); primary {
	case "chlorine", "salt", "bromine", "biguanide":
		s.Sanitizer = primary
	case "":
	default:
		s.Sanitizer = "other"
	}
	if s == (sdk.PoolSuggestion{}) {
		return nil
	}
	return &s
}

// DiscoverDevices implements [sdk.Adapter]: one device per pool that has an ICO.
func (a *Adapter) DiscoverDevices(ctx context.Context, req sdk.DiscoverRequest) (_ sdk.DiscoverResult, err error) {
	s := a.session(req.Account.Credentials)
	defer func() {
		if r := recover(); r != nil {
			err = s.fail(panicked("discover devices", r))
		}
	}()
	pools, err := s.pools(ctx)
	if err != nil {
		return sdk.DiscoverResult{}, s.fail(fmt.Errorf("list pools: %w", err))
	}
	var devices []sdk.Device
	for _, p := range pools {
		d, ok, err := s.device(ctx, p.ID)
		if errors.Is(err, errForbidden) {
			continue // out of the user's reach since /pools listed it (see errForbidden)
		}
		if err != nil {
			return sdk.DiscoverResult{}, s.fail(fmt.Errorf("get device of pool %d: %w", p.ID, err))
		}
		if !ok {
			continue
		}
		// Listed by Ondilo for this account's token: the provider vouches for it.
		devices = append(devices, sdk.Device{
			ProviderDeviceID: d.UUID,
			Verified:         true,
			Name:             p.Name,
			Model:            "ICO",
			Metadata: map[string]string{
				"pool_id":       strconv.FormatInt(p.ID, 10),
				"pool_type":     p.Type,
				"serial_number": d.SerialNumber,
				"sw_version":    d.SWVersion,
			},
			Suggested: suggestion(p),
		})
	}
	return sdk.DiscoverResult{Devices: devices, RefreshedCredentials: s.refreshedCredentials()}, nil
}
