package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/pools"
)

// routes registers the built-in API. Paths are exactly those of openapi.yaml; CheckSpec
// keeps the two in step. Each area's service is checked once here: unwired, its routes
// answer 503.
func (h *Handler) routes(rt *Router) {
	rt.Public(http.MethodGet, "/healthz", plain(h.healthz))
	rt.Public(http.MethodGet, "/readyz", plain(h.readyz))
	rt.Public(http.MethodGet, "/metrics", h.metricsRoute())
	rt.Public(http.MethodGet, "/openapi.yaml", plain(serveSpec))

	pool := func(fn HandlerFunc) HandlerFunc { return needs(h.deps.Pools != nil, "pools", fn) }
	rt.User(http.MethodPost, "/v1/pools", pool(h.createPool))
	rt.User(http.MethodGet, "/v1/pools", pool(h.listPools))
	rt.User(http.MethodGet, "/v1/pools/{poolId}", pool(h.getPool))
	rt.User(http.MethodDelete, "/v1/pools/{poolId}", pool(h.deletePool))
	rt.User(http.MethodPut, "/v1/pools/{poolId}/members/{userId}", pool(h.putMember))
	rt.User(http.MethodDelete, "/v1/pools/{poolId}/members/{userId}", pool(h.deleteMember))
	rt.User(http.MethodGet, "/v1/pools/{poolId}/readings", pool(h.readings))
	h.poolRoutes(rt, pool)
	h.commandRoutes(rt)

	conn := func(what string, fn HandlerFunc) HandlerFunc { return needs(h.deps.Connect != nil, what, fn) }
	rt.User(http.MethodGet, "/v1/providers", conn("providers", h.listProviders))
	rt.User(http.MethodPost, "/v1/providers/{provider}/connect", conn("providers", h.connect))
	// The provider redirects the user's browser here. The state alone does not complete
	// the flow (connect.Service.Callback says why): with a token it completes; without
	// one the browser is sent on to the app's return_url, whose page posts code and
	// state back with its user's token.
	rt.Public(http.MethodGet, "/v1/providers/{provider}/callback", conn("providers", h.callback))
	rt.User(http.MethodPost, "/v1/providers/{provider}/callback", conn("providers", h.completeCallback))

	rt.User(http.MethodGet, "/v1/accounts", conn("accounts", h.listAccounts))
	rt.User(http.MethodGet, "/v1/accounts/{accountId}", conn("accounts", h.getAccount))
	rt.User(http.MethodDelete, "/v1/accounts/{accountId}", conn("accounts", h.disconnect))
	rt.User(http.MethodPost, "/v1/accounts/{accountId}/discover", conn("accounts", h.discover))
	rt.User(http.MethodPost, "/v1/accounts/{accountId}/webhook-secret/rotate", conn("accounts", h.rotateWebhookSecret))
	rt.User(http.MethodGet, "/v1/accounts/{accountId}/devices", conn("accounts", h.devices))

	rt.User(http.MethodPut, "/v1/devices/{deviceId}/link", conn("devices", h.link))
	rt.User(http.MethodDelete, "/v1/devices/{deviceId}/link", conn("devices", h.unlink))

	rt.Admin(http.MethodGet, "/v1/admin/providers", conn("providers", h.adminProviders))
	rt.Admin(http.MethodPost, "/v1/admin/reload", conn("providers", h.adminReload))
	rt.Admin(http.MethodGet, "/v1/admin/overview", needs(h.deps.Activity != nil && h.deps.Connect != nil, "overview", h.adminOverview))

	usr := func(what string, fn HandlerFunc) HandlerFunc { return needs(h.deps.Users != nil, what, fn) }
	rt.Admin(http.MethodGet, "/v1/admin/audit", usr("audit", h.adminAudit))
	rt.Admin(http.MethodPost, "/v1/admin/users", usr("users", h.adminCreateUser))
	rt.Admin(http.MethodPost, "/v1/admin/users/{userId}/tokens", usr("users", h.adminCreateToken))
	rt.Admin(http.MethodDelete, "/v1/admin/users/{userId}/tokens", usr("users", h.adminRevokeTokens))
}

// actor returns the authenticated actor; User and Admin routes always have one.
func actor(r *http.Request) auth.Actor {
	a, _ := auth.ActorFrom(r.Context())
	return a
}

// ---- pools

func (h *Handler) createPool(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	p, err := h.deps.Pools.Create(r.Context(), actor(r), in.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/pools/"+strconv.FormatInt(p.ID, 10))
	WriteJSON(w, http.StatusCreated, p)
	return nil
}

func (h *Handler) listPools(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	var pos *pools.PoolPos
	if c := q.Get("cursor"); c != "" {
		pos = new(pools.PoolPos)
		if err := DecodeCursor(c, pos); err != nil {
			return err
		}
	}
	page, err := h.deps.Pools.List(r.Context(), actor(r), pos, limit)
	if err != nil {
		return err
	}
	out := map[string]any{"pools": page.Pools}
	if page.Next != nil {
		out["nextCursor"] = EncodeCursor(page.Next)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) getPool(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	p, err := h.deps.Pools.Get(r.Context(), actor(r), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, p)
	return nil
}

func (h *Handler) deletePool(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	if err := h.deps.Pools.Delete(r.Context(), actor(r), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) putMember(w http.ResponseWriter, r *http.Request) error {
	poolID, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	userID, err := pathID(r, "userId")
	if err != nil {
		return err
	}
	var in struct {
		Role pools.Role `json:"role"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	m, err := h.deps.Pools.SetMember(r.Context(), actor(r), poolID, userID, in.Role)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, m)
	return nil
}

func (h *Handler) deleteMember(w http.ResponseWriter, r *http.Request) error {
	poolID, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	userID, err := pathID(r, "userId")
	if err != nil {
		return err
	}
	if err := h.deps.Pools.RemoveMember(r.Context(), actor(r), poolID, userID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) readings(w http.ResponseWriter, r *http.Request) error {
	poolID, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	rq := pools.ReadingQuery{PoolID: poolID, Metric: q.Get("metric")}
	if rq.From, err = queryTime(q, "from"); err != nil {
		return err
	}
	if rq.To, err = queryTime(q, "to"); err != nil {
		return err
	}
	if rq.Limit, err = queryLimit(q); err != nil {
		return err
	}
	if c := q.Get("cursor"); c != "" {
		var pos pools.ReadingPos
		if err := DecodeCursor(c, &pos); err != nil {
			return err
		}
		rq.After = &pos
	}
	page, err := h.deps.Pools.Readings(r.Context(), actor(r), rq)
	if err != nil {
		return err
	}
	out := map[string]any{"readings": nonNil(page.Readings)}
	if page.Next != nil {
		out["nextCursor"] = EncodeCursor(page.Next)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func queryTime(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, host.Errorf(host.EINVALID, "%s must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", name)
	}
	if t.IsZero() {
		// The zero time is what "not given" reads as below: from=0001-01-01T00:00:00Z
		// would quietly ask for the default window instead, and to= for no end.
		return time.Time{}, host.Errorf(host.EINVALID, "%s must be later than 0001-01-01T00:00:00Z", name)
	}
	return t, nil
}

func queryLimit(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > pools.MaxLimit {
		return 0, host.Errorf(host.EINVALID, "limit must be between 1 and %d", pools.MaxLimit)
	}
	return n, nil
}

// ---- providers and accounts

func (h *Handler) listProviders(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.deps.Connect.Providers(r.Context(), actor(r))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"providers": nonNil(ps)})
	return nil
}

func (h *Handler) connect(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Input map[string]string `json:"input"`
	}
	// The body is optional: OAuth providers need no input.
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &in); err != nil {
			return err
		}
	}
	res, err := h.deps.Connect.Connect(r.Context(), actor(r), mux.Vars(r)["provider"], in.Input)
	if err != nil {
		return err
	}
	if res.Account != nil {
		if res.Webhook != nil {
			w.Header().Set("Cache-Control", "no-store") // the account's webhook secret is in this body
		}
		WriteJSON(w, http.StatusCreated, res)
		return nil
	}
	WriteJSON(w, http.StatusOK, res)
	return nil
}

// callback is where the provider sends the user's browser back. With the starting
// user's token it completes the flow and answers JSON. Without one it cannot: when
// http.return_url is set the browser goes on there with status=pending and the
// provider's parameters (code, state, …) for the app to post back with its token;
// otherwise the answer is a 401 problem saying so. With a token and return_url, the
// outcome goes there: status=connected&accountId=… or status=error&error=<type>.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) error {
	provider := mux.Vars(r)["provider"]
	query := map[string]string{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	by, authed := auth.ActorFrom(r.Context())
	ret := h.httpConfig().ReturnURL
	if !authed && ret != "" {
		u, err := url.Parse(ret)
		if err != nil {
			return host.Wrap(host.EINTERNAL, err, "bad return_url")
		}
		v := u.Query()
		for k, val := range query {
			v.Set(k, val)
		}
		v.Set("provider", provider)
		v.Set("status", "pending")
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return nil
	}
	var byp *auth.Actor
	if authed {
		byp = &by
	}
	acct, err := h.deps.Connect.Callback(r.Context(), byp, provider, query)
	if ret == "" {
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, map[string]any{"account": acct})
		return nil
	}
	u, perr := url.Parse(ret)
	if perr != nil {
		return host.Wrap(host.EINTERNAL, perr, "bad return_url")
	}
	v := u.Query()
	v.Set("provider", provider)
	if err != nil {
		p := ProblemFor(r, err)
		if p.Status >= 500 {
			h.log.Error("oauth callback failed", "request_id", p.RequestID, "provider", provider, "error", err)
		}
		v.Set("status", "error")
		v.Set("error", p.Type[len(ProblemTypeBase):])
		v.Set("request_id", p.RequestID)
	} else {
		v.Set("status", "connected")
		v.Set("accountId", strconv.FormatInt(acct.ID, 10))
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
	return nil
}

// completeCallback completes an OAuth flow from the app's return_url page: the
// provider's callback parameters (code, state, error…) as a JSON object, with the token
// of the user who started the connect.
func (h *Handler) completeCallback(w http.ResponseWriter, r *http.Request) error {
	var query map[string]string
	if err := DecodeJSON(r, &query); err != nil {
		return err
	}
	a := actor(r)
	acct, err := h.deps.Connect.Callback(r.Context(), &a, mux.Vars(r)["provider"], query)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"account": acct})
	return nil
}

func (h *Handler) listAccounts(w http.ResponseWriter, r *http.Request) error {
	as, err := h.deps.Connect.Accounts(r.Context(), actor(r))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"accounts": nonNil(as)})
	return nil
}

func (h *Handler) getAccount(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "accountId")
	if err != nil {
		return err
	}
	acct, err := h.deps.Connect.Account(r.Context(), actor(r), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, acct)
	return nil
}

func (h *Handler) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "accountId")
	if err != nil {
		return err
	}
	// The body is optional: {"previousSecretValidSeconds": 0} retires the old secret at
	// once (a leak), a shorter overlap than the operator's otherwise.
	var in struct {
		PreviousSecretValidSeconds *int64 `json:"previousSecretValidSeconds"`
	}
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &in); err != nil {
			return err
		}
	}
	var keep *time.Duration
	if s := in.PreviousSecretValidSeconds; s != nil {
		d := time.Duration(*s) * time.Second
		if *s < 0 || *s > int64(config.MaxWebhookSecretOverlap/time.Second) {
			d = -1 // out of range whatever the operator's overlap: the service says which range
		}
		keep = &d
	}
	out, err := h.deps.Connect.RotateWebhookSecret(r.Context(), actor(r), id, keep)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // the new secret is in this body
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) disconnect(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "accountId")
	if err != nil {
		return err
	}
	if err := h.deps.Connect.Disconnect(r.Context(), actor(r), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) discover(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "accountId")
	if err != nil {
		return err
	}
	ds, err := h.deps.Connect.Discover(r.Context(), actor(r), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"devices": nonNil(ds)})
	return nil
}

func (h *Handler) devices(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "accountId")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	var pos *connect.DevicePos
	if c := q.Get("cursor"); c != "" {
		pos = new(connect.DevicePos)
		if err := DecodeCursor(c, pos); err != nil {
			return err
		}
	}
	page, err := h.deps.Connect.Devices(r.Context(), actor(r), id, pos, limit)
	if err != nil {
		return err
	}
	out := map[string]any{"devices": nonNil(page.Devices)}
	if page.Next != nil {
		out["nextCursor"] = EncodeCursor(page.Next)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

type linkBody struct {
	PoolID int64 `json:"poolId"`
}

func (h *Handler) link(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "deviceId")
	if err != nil {
		return err
	}
	var in linkBody
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	d, err := h.deps.Connect.Link(r.Context(), actor(r), id, in.PoolID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, d)
	return nil
}

func (h *Handler) unlink(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "deviceId")
	if err != nil {
		return err
	}
	// {"poolId"} is optional on DELETE; when given it must name the current link.
	var in linkBody
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &in); err != nil {
			return err
		}
	}
	if err := h.deps.Connect.Unlink(r.Context(), actor(r), id, in.PoolID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- admin

func (h *Handler) adminProviders(w http.ResponseWriter, r *http.Request) error {
	st, err := h.deps.Connect.ProviderStatuses(r.Context(), actor(r))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"providers": nonNil(st)})
	return nil
}

// adminReload answers what the reload changed. A config file with errors is a 400
// whose problem carries the diagnostics (WriteError); the running config is kept.
func (h *Handler) adminReload(w http.ResponseWriter, r *http.Request) error {
	rep, err := h.deps.Connect.Reload(r.Context(), actor(r))
	if err != nil {
		return err
	}
	rep.Providers = nonNil(rep.Providers)
	WriteJSON(w, http.StatusOK, rep)
	return nil
}

func (h *Handler) adminAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	aq := audit.Query{Action: q.Get("action"), By: q.Get("by"), Provider: q.Get("provider")}
	var err error
	if aq.Since, err = queryTime(q, "since"); err != nil {
		return err
	}
	if aq.Limit, err = queryLimit(q); err != nil {
		return err
	}
	if c := q.Get("cursor"); c != "" {
		var pos struct {
			Before int64 `json:"b"`
		}
		if err := DecodeCursor(c, &pos); err != nil {
			return err
		}
		aq.BeforeID = pos.Before
	}
	page, err := h.deps.Users.Audit(r.Context(), actor(r), aq)
	if err != nil {
		return err
	}
	out := map[string]any{"events": nonNil(page.Events)}
	if page.NextBeforeID != 0 {
		out["nextCursor"] = EncodeCursor(struct {
			Before int64 `json:"b"`
		}{page.NextBeforeID})
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) adminCreateUser(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
		Admin bool   `json:"admin"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	u, err := h.deps.Users.CreateUser(r.Context(), actor(r), in.Email, in.Admin)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, u)
	return nil
}

func (h *Handler) adminCreateToken(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathID(r, "userId")
	if err != nil {
		return err
	}
	var in struct {
		Name string `json:"name"`
	}
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &in); err != nil {
			return err
		}
	}
	t, err := h.deps.Users.CreateToken(r.Context(), actor(r), userID, in.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // the plaintext token is in this body
	WriteJSON(w, http.StatusCreated, t)
	return nil
}

// adminRevokeTokens revokes one token (?tokenId=) or, without it, all of the user's tokens.
func (h *Handler) adminRevokeTokens(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathID(r, "userId")
	if err != nil {
		return err
	}
	var tokenID int64
	// Present but empty is refused too: "?tokenId=" must not mean "all of them".
	if q := r.URL.Query(); q.Has("tokenId") {
		if tokenID, err = strconv.ParseInt(q.Get("tokenId"), 10, 64); err != nil || tokenID <= 0 {
			return host.Errorf(host.EINVALID, "tokenId must be a token id")
		}
	}
	n, err := h.deps.Users.RevokeTokens(r.Context(), actor(r), userID, tokenID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]int{"revoked": n})
	return nil
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
