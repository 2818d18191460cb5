package iopool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

// ID is the provider id; the host's config block must use the same.
const ID = "iopool"

// Version is this adapter's own version, shown to operators.
const Version = "0.1.0"

// Keys: the base_url setting, the api_key connect input and credential.
const (
	SettingBaseURL = "base_url"
	InputAPIKey    = "api_key"
	credAPIKey     = "api_key"
)

// DefaultBaseURL is iopool's public API.
const DefaultBaseURL = "https://api.iopool.com"

// MinPollInterval: see the package documentation.
const MinPollInterval = 5 * time.Minute

const maxBody = 1 << 20

// Adapter implements [sdk.Adapter] and [sdk.Poller] for iopool. It keeps no account
// state: every call works from the credentials and cursor it is given.
type Adapter struct {
	sdk.UnsupportedAdapter // no redirect callback, no webhooks

	http *http.Client

	mu      sync.RWMutex
	baseURL string
}

// Option tunes an Adapter.
type Option func(*Adapter)

// WithHTTPClient sets the client used to reach iopool.
func WithHTTPClient(c *http.Client) Option { return func(a *Adapter) { a.http = c } }

// New returns an iopool adapter using the public API until Configure says otherwise.
func New(opts ...Option) *Adapter {
	a := &Adapter{
		// The host's per-method deadline is the real bound; this only stops a stuck
		// connection from outliving a call made without one.
		// sdk.HTTPClient puts the calls in the host's trace when tracing is on.
		http:    sdk.HTTPClient(30 * time.Second),
		baseURL: DefaultBaseURL,
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
			Connect:         sdk.ConnectAPIKey,
			Poll:            true,
			MinPollInterval: MinPollInterval,
		},
		Settings: []sdk.Option{
			{Key: SettingBaseURL, Type: sdk.OptionURL, Default: DefaultBaseURL, Help: "iopool's API root; change it only for a test double."},
		},
		ConnectInputs: []sdk.Option{
			{Key: InputAPIKey, Secret: true, Required: true, Help: "Your API key, from the iopool app: Settings → API key."},
		},
	}, nil
}

// Configure implements [sdk.Adapter]. An unset base_url restores the default.
func (a *Adapter) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	base := DefaultBaseURL
	if v := strings.TrimSpace(req.Settings[SettingBaseURL]); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return sdk.InvalidInput("setting %s=%q: want an absolute http(s) URL", SettingBaseURL, v)
		}
		base = strings.TrimRight(v, "/")
	}
	a.mu.Lock()
	a.baseURL = base
	a.mu.Unlock()
	return nil
}

func (a *Adapter) base() string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.baseURL
}

// Connect implements [sdk.Adapter]: it checks the pasted key against the API and links
// the account at once.
func (a *Adapter) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	key := strings.TrimSpace(req.Input[InputAPIKey])
	if key == "" {
		return sdk.ConnectResult{}, sdk.InvalidInput("an iopool api_key is required (iopool app: settings, API key)")
	}
	pools, err := a.pools(ctx, key)
	if sdk.IsKind(err, sdk.KindReauth) {
		return sdk.ConnectResult{}, sdk.InvalidInput("api key rejected by iopool")
	}
	if err != nil {
		return sdk.ConnectResult{}, fmt.Errorf("validate api key: %w", err)
	}
	return sdk.ConnectResult{Linkage: &sdk.Linkage{
		ExternalAccountID: externalAccountID(key),
		DisplayName:       displayName(pools),
		Credentials:       sdk.Credentials{credAPIKey: key},
	}}, nil
}

// externalAccountID identifies an account by a hash of its key; see the package doc.
func externalAccountID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "key:" + hex.EncodeToString(sum[:8])
}

func displayName(pools []pool) string {
	names := make([]string, 0, len(pools))
	for _, p := range pools {
		if p.Title != "" {
			names = append(names, p.Title)
		}
	}
	if len(names) == 0 || len(names) > 3 {
		return fmt.Sprintf("iopool (%d pools)", len(pools))
	}
	return "iopool: " + strings.Join(names, ", ")
}

// DiscoverDevices implements [sdk.Adapter]: one device per pool.
func (a *Adapter) DiscoverDevices(ctx context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	pools, err := a.accountPools(ctx, req.Account)
	if err != nil {
		return sdk.DiscoverResult{}, err
	}
	devices := make([]sdk.Device, 0, len(pools))
	for _, p := range pools {
		if p.ID == "" {
			continue
		}
		md := map[string]string{"pool_mode": p.Mode}
		if p.LatestMeasure != nil && p.LatestMeasure.EcoID != "" {
			md["eco_id"] = p.LatestMeasure.EcoID
		}
		// Listed by iopool for this API key: the provider vouches that the account owns it.
		devices = append(devices, sdk.Device{ProviderDeviceID: p.ID, Name: p.Title, Model: "EcO", Metadata: md, Verified: true})
	}
	return sdk.DiscoverResult{Devices: devices}, nil
}

// PollReadings implements [sdk.Poller]: each pool's latest measure, unless the cursor
// says it was already returned.
func (a *Adapter) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	seen := decodeCursor(req.Cursor)
	pools, err := a.accountPools(ctx, req.Account)
	if err != nil {
		return sdk.PollResult{}, err
	}
	// A pool missing from this answer keeps its place: an answer that lists no pool for
	// a while (an empty array, a 204) must not make the next one return measures again.
	next := maps.Clone(seen)
	if next == nil {
		next = make(map[string]time.Time, len(pools))
	}
	var readings []sdk.Reading
	for _, p := range pools {
		if p.ID == "" {
			continue
		}
		last, had := seen[p.ID]
		m := p.LatestMeasure
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m.MeasuredAt)
		at = at.UTC()
		// A year the cursor cannot hold (JSON times stop at 0-9999) would fail every
		// poll of the account; such a measure is unreadable.
		if err != nil || at.Year() < 1 || at.Year() > 9999 || (had && !at.After(last)) {
			continue
		}
		// The cursor only moves forward, even when a pool id is listed twice.
		if prev, ok := next[p.ID]; !ok || at.After(prev) {
			next[p.ID] = at
		}
		readings = append(readings, m.readings(p.ID, at)...)
	}
	cur, err := json.Marshal(next)
	if err != nil {
		return sdk.PollResult{}, fmt.Errorf("encode cursor: %w", err)
	}
	return sdk.PollResult{Readings: readings, NextCursor: string(cur)}, nil
}

// decodeCursor reads the per-pool cursor; an empty or corrupt one starts afresh, which
// at worst returns the latest measures again (the host deduplicates them).
func decodeCursor(s string) map[string]time.Time {
	var m map[string]time.Time
	if s == "" || json.Unmarshal([]byte(s), &m) != nil {
		return nil
	}
	return m
}

// pool is a GET /v1/pools entry.
type pool struct {
	ID            string         `json:"id"`
	Title         string         `json:"title"`
	Mode          string         `json:"mode"`
	LatestMeasure *latestMeasure `json:"latestMeasure"`
}

type latestMeasure struct {
	Temperature *float64 `json:"temperature"`
	PH          *float64 `json:"ph"`
	ORP         *float64 `json:"orp"`
	Mode        string   `json:"mode"`
	IsValid     *bool    `json:"isValid"`
	EcoID       string   `json:"ecoId"`
	MeasuredAt  string   `json:"measuredAt"`
	raw         json.RawMessage
}

func (m *latestMeasure) UnmarshalJSON(b []byte) error {
	type plain latestMeasure
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*m = latestMeasure(p)
	m.raw = append(json.RawMessage(nil), b...)
	return nil
}

func (m *latestMeasure) quality() sdk.Quality {
	switch {
	case (m.IsValid != nil && !*m.IsValid) || strings.EqualFold(m.Mode, "maintenance"):
		return sdk.QualitySuspect
	case m.IsValid != nil:
		return sdk.QualityGood
	}
	return sdk.QualityUnknown
}

func (m *latestMeasure) readings(deviceID string, at time.Time) []sdk.Reading {
	q := m.quality()
	var out []sdk.Reading
	add := func(name, unit string, v *float64) {
		if v == nil {
			return
		}
		out = append(out, sdk.Reading{
			ProviderDeviceID: deviceID,
			Metric:           name,
			Value:            *v,
			Unit:             unit,
			RecordedAt:       at,
			Quality:          q,
			RawPayload:       m.raw,
		})
	}
	add(metric.Temperature, metric.UnitCelsius, m.Temperature)
	add(metric.PH, metric.UnitPH, m.PH)
	add(metric.ORP, metric.UnitMillivolt, m.ORP)
	return out
}

func (a *Adapter) accountPools(ctx context.Context, acct sdk.Account) ([]pool, error) {
	key := acct.Credentials[credAPIKey]
	if key == "" {
		return nil, sdk.Reauth("iopool account has no api key; reconnect it")
	}
	pools, err := a.pools(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	return pools, nil
}

// pools is GET /v1/pools. A refused key is a reauth error; callers that validate a
// fresh key turn it into invalid input.
func (a *Adapter) pools(ctx context.Context, key string) ([]pool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base()+"/v1/pools", nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("x-api-key", key)
	req.Header.Set("Accept", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("call iopool: %w", ctxErr)
		}
		return nil, sdk.Temporary("call iopool GET /v1/pools: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, sdk.Temporary("read iopool GET /v1/pools: %v", err)
	}
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return nil, sdk.Reauth("iopool rejected the api key (HTTP %d); reconnect with a new key", s)
	case s == http.StatusTooManyRequests:
		if after := sdk.RetryAfterHeader(resp.Header, time.Now()); after > 0 {
			// The host polls the account no sooner.
			return nil, sdk.RetryAfter(after, "iopool API quota exceeded; retry in %v", after)
		}
		return nil, sdk.Temporary("iopool API quota exceeded; retry later")
	case s == http.StatusServiceUnavailable && sdk.RetryAfterHeader(resp.Header, time.Now()) > 0:
		after := sdk.RetryAfterHeader(resp.Header, time.Now())
		return nil, sdk.RetryAfter(after, "iopool GET /v1/pools failed upstream: HTTP %d; retry in %v", s, after)
	case s >= 500 || s == http.StatusRequestTimeout:
		return nil, sdk.Temporary("iopool GET /v1/pools failed upstream: HTTP %d", s)
	default:
		return nil, sdk.Permanent("iopool GET /v1/pools rejected: HTTP %d", s)
	}
	var pools []pool
	if resp.StatusCode == http.StatusNoContent || len(bytes.TrimSpace(body)) == 0 {
		// No pools: a quiet answer, as an empty array is.
		return nil, nil
	}
	if err := json.Unmarshal(body, &pools); err != nil {
		return nil, sdk.Temporary("decode iopool GET /v1/pools: %v", err)
	}
	return pools, nil
}
