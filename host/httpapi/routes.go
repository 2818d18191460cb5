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
	"github.com/poolhost/poolhost/host/pools"
)

// routes registers the built-in API. Paths are exactly those of openapi.yaml; CheckSpec
// keeps the two in step.
func (h *Handler) routes(rt *Router) {
	rt.Public(http.MethodGet, "/healthz", h.healthz)
	rt.Public(http.MethodGet, "/readyz", h.readyz)
	rt.Public(http.MethodGet, "/metrics", h.metricsHandler().ServeHTTP)
	rt.Public(http.MethodGet, "/openapi.yaml", serveSpec)

	rt.User(http.MethodPost, "/v1/pools", h.createPool)
	rt.User(http.MethodGet, "/v1/pools", h.listPools)
	rt.User(http.MethodGet, "/v1/pools/{poolId}", h.getPool)
	rt.User(http.MethodPut, "/v1/pools/{poolId}/members/{userId}", h.putMember)
	rt.User(http.MethodDelete, "/v1/pools/{poolId}/members/{userId}", h.deleteMember)
	rt.User(http.MethodGet, "/v1/pools/{poolId}/readings", h.readings)

	rt.User(http.MethodGet, "/v1/providers", h.listProviders)
	rt.User(http.MethodPost, "/v1/providers/{provider}/connect", h.connect)
	// The provider redirects the user's browser here: the state authenticates it.
	rt.Public(http.MethodGet, "/v1/providers/{provider}/callback", h.callback)

	rt.User(http.MethodGet, "/v1/accounts", h.listAccounts)
	rt.User(http.MethodDelete, "/v1/accounts/{accountId}", h.disconnect)
	rt.User(http.MethodPost, "/v1/accounts/{accountId}/discover", h.discover)
	rt.User(http.MethodGet, "/v1/accounts/{accountId}/devices", h.devices)

	rt.User(http.MethodPut, "/v1/devices/{deviceId}/link", h.link)
	rt.User(http.MethodDelete, "/v1/devices/{deviceId}/link", h.unlink)

	rt.Admin(http.MethodGet, "/v1/admin/providers", h.adminProviders)
	rt.Admin(http.MethodPost, "/v1/admin/reload", h.adminReload)
	rt.Admin(http.MethodGet, "/v1/admin/audit", h.adminAudit)
	rt.Admin(http.MethodPost, "/v1/admin/users", h.adminCreateUser)
	rt.Admin(http.MethodPost, "/v1/admin/users/{userId}/tokens", h.adminCreateToken)
	rt.Admin(http.MethodDelete, "/v1/admin/users/{userId}/tokens", h.adminRevokeTokens)
}

// actor returns the authenticated actor; User and Admin routes always have one.
func actor(r *http.Request) auth.Actor {
	a, _ := auth.ActorFrom(r.Context())
	return a
}

// ---- pools

func (h *Handler) createPool(w http.ResponseWriter, r *http.Request) {
	if h.deps.Pools == nil {
		h.WriteError(w, r, unavailable("pools"))
		return
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.WriteError(w, r, err)
		return
	}
	p, err := h.deps.Pools.Create(r.Context(), actor(r), in.Name)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/pools/"+strconv.FormatInt(p.ID, 10))
	WriteJSON(w, http.StatusCreated, p)
}

func (h *Handler) listPools(w http.ResponseWriter, r *http.Request) {
	if h.deps.Pools == nil {
		h.WriteError(w, r, unavailable("pools"))
		return
	}
	ps, err := h.deps.Pools.List(r.Context(), actor(r))
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"pools": nonNil(ps)})
}

func (h *Handler) getPool(w http.ResponseWriter, r *http.Request) {
	if h.deps.Pools == nil {
		h.WriteError(w, r, unavailable("pools"))
		return
	}
	id, err := pathID(r, "poolId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	p, err := h.deps.Pools.Get(r.Context(), actor(r), id)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, p)
}

func (h *Handler) putMember(w http.ResponseWriter, r *http.Request) {
	if h.deps.Pools == nil {
		h.WriteError(w, r, unavailable("pools"))
		return
	}
	poolID, err := pathID(r, "poolId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	userID, err := pathID(r, "userId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	var in struct {
		Role pools.Role `json:"role"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.WriteError(w, r, err)
		return
	}
	m, err := h.deps.Pools.SetMember(r.Context(), actor(r), poolID, userID, in.Role)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, m)
}

func (h *Handler) deleteMember(w http.ResponseWriter, r *http.Request) {
	if h.deps.Pools == nil {
		h.WriteError(w, r, unavailable("pools"))
		return
	}
	poolID, err := pathID(r, "poolId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	userID, err := pathID(r, "userId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	if err := h.deps.Pools.RemoveMember(r.Context(), actor(r), poolID, userID); err != nil {
		h.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) readings(w http.ResponseWriter, r *http.Request) {
	if h.deps.Pools == nil {
		h.WriteError(w, r, unavailable("pools"))
		return
	}
	poolID, err := pathID(r, "poolId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	q := r.URL.Query()
	rq := pools.ReadingQuery{PoolID: poolID, Metric: q.Get("metric")}
	if rq.From, err = queryTime(q, "from"); err != nil {
		h.WriteError(w, r, err)
		return
	}
	if rq.To, err = queryTime(q, "to"); err != nil {
		h.WriteError(w, r, err)
		return
	}
	if rq.Limit, err = queryLimit(q); err != nil {
		h.WriteError(w, r, err)
		return
	}
	if c := q.Get("cursor"); c != "" {
		var pos pools.ReadingPos
		if err := DecodeCursor(c, &pos); err != nil {
			h.WriteError(w, r, err)
			return
		}
		rq.After = &pos
	}
	page, err := h.deps.Pools.Readings(r.Context(), actor(r), rq)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	out := map[string]any{"readings": nonNil(page.Readings)}
	if page.Next != nil {
		out["nextCursor"] = EncodeCursor(page.Next)
	}
	WriteJSON(w, http.StatusOK, out)
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

func (h *Handler) listProviders(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("providers"))
		return
	}
	ps, err := h.deps.Connect.Providers(r.Context(), actor(r))
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"providers": nonNil(ps)})
}

func (h *Handler) connect(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("providers"))
		return
	}
	var in struct {
		Input map[string]string `json:"input"`
	}
	// The body is optional: OAuth providers need no input.
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &in); err != nil {
			h.WriteError(w, r, err)
			return
		}
	}
	res, err := h.deps.Connect.Connect(r.Context(), actor(r), mux.Vars(r)["provider"], in.Input)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	if res.Account != nil {
		WriteJSON(w, http.StatusCreated, res)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

// callback completes an OAuth flow. It answers JSON, or — when http.return_url is set —
// redirects the browser there with the outcome in the query: status=connected&accountId=…
// or status=error&error=<problem type>.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("providers"))
		return
	}
	provider := mux.Vars(r)["provider"]
	query := map[string]string{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	var by *auth.Actor
	if a, ok := auth.ActorFrom(r.Context()); ok {
		by = &a
	}
	acct, err := h.deps.Connect.Callback(r.Context(), by, provider, query)
	ret := h.deps.HTTP.ReturnURL
	if ret == "" {
		if err != nil {
			h.WriteError(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"account": acct})
		return
	}
	u, perr := url.Parse(ret)
	if perr != nil {
		h.WriteError(w, r, host.Wrap(host.EINTERNAL, perr, "bad return_url"))
		return
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
}

func (h *Handler) listAccounts(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("accounts"))
		return
	}
	as, err := h.deps.Connect.Accounts(r.Context(), actor(r))
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"accounts": nonNil(as)})
}

func (h *Handler) disconnect(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("accounts"))
		return
	}
	id, err := pathID(r, "accountId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	if err := h.deps.Connect.Disconnect(r.Context(), actor(r), id); err != nil {
		h.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) discover(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("accounts"))
		return
	}
	id, err := pathID(r, "accountId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	ds, err := h.deps.Connect.Discover(r.Context(), actor(r), id)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"devices": nonNil(ds)})
}

func (h *Handler) devices(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("accounts"))
		return
	}
	id, err := pathID(r, "accountId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	ds, err := h.deps.Connect.Devices(r.Context(), actor(r), id)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"devices": nonNil(ds)})
}

type linkBody struct {
	PoolID int64 `json:"poolId"`
}

func (h *Handler) link(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("devices"))
		return
	}
	id, err := pathID(r, "deviceId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	var in linkBody
	if err := DecodeJSON(r, &in); err != nil {
		h.WriteError(w, r, err)
		return
	}
	d, err := h.deps.Connect.Link(r.Context(), actor(r), id, in.PoolID)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, d)
}

func (h *Handler) unlink(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("devices"))
		return
	}
	id, err := pathID(r, "deviceId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	// {"poolId"} is optional on DELETE; when given it must name the current link.
	var in linkBody
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &in); err != nil {
			h.WriteError(w, r, err)
			return
		}
	}
	if err := h.deps.Connect.Unlink(r.Context(), actor(r), id, in.PoolID); err != nil {
		h.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- admin

func (h *Handler) adminProviders(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("providers"))
		return
	}
	st, err := h.deps.Connect.ProviderStatuses(r.Context(), actor(r))
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"providers": nonNil(st)})
}

func (h *Handler) adminReload(w http.ResponseWriter, r *http.Request) {
	if h.deps.Connect == nil {
		h.WriteError(w, r, unavailable("providers"))
		return
	}
	st, err := h.deps.Connect.Reload(r.Context(), actor(r))
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"providers": nonNil(st)})
}

func (h *Handler) adminAudit(w http.ResponseWriter, r *http.Request) {
	if h.deps.Users == nil {
		h.WriteError(w, r, unavailable("audit"))
		return
	}
	q := r.URL.Query()
	aq := audit.Query{Action: q.Get("action"), Provider: q.Get("provider")}
	var err error
	if aq.Since, err = queryTime(q, "since"); err != nil {
		h.WriteError(w, r, err)
		return
	}
	if aq.Limit, err = queryLimit(q); err != nil {
		h.WriteError(w, r, err)
		return
	}
	if c := q.Get("cursor"); c != "" {
		var pos struct {
			Before int64 `json:"b"`
		}
		if err := DecodeCursor(c, &pos); err != nil {
			h.WriteError(w, r, err)
			return
		}
		aq.BeforeID = pos.Before
	}
	page, err := h.deps.Users.Audit(r.Context(), actor(r), aq)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	out := map[string]any{"events": nonNil(page.Events)}
	if page.NextBeforeID != 0 {
		out["nextCursor"] = EncodeCursor(struct {
			Before int64 `json:"b"`
		}{page.NextBeforeID})
	}
	WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) adminCreateUser(w http.ResponseWriter, r *http.Request) {
	if h.deps.Users == nil {
		h.WriteError(w, r, unavailable("users"))
		return
	}
	var in struct {
		Email string `json:"email"`
		Admin bool   `json:"admin"`
	}
	if err := DecodeJSON(r, &in); err != nil {
		h.WriteError(w, r, err)
		return
	}
	u, err := h.deps.Users.CreateUser(r.Context(), actor(r), in.Email, in.Admin)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, u)
}

func (h *Handler) adminCreateToken(w http.ResponseWriter, r *http.Request) {
	if h.deps.Users == nil {
		h.WriteError(w, r, unavailable("users"))
		return
	}
	userID, err := pathID(r, "userId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	var in struct {
		Name string `json:"name"`
	}
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &in); err != nil {
			h.WriteError(w, r, err)
			return
		}
	}
	t, err := h.deps.Users.CreateToken(r.Context(), actor(r), userID, in.Name)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store") // the plaintext token is in this body
	WriteJSON(w, http.StatusCreated, t)
}

// adminRevokeTokens revokes one token (?tokenId=) or, without it, all of the user's tokens.
func (h *Handler) adminRevokeTokens(w http.ResponseWriter, r *http.Request) {
	if h.deps.Users == nil {
		h.WriteError(w, r, unavailable("users"))
		return
	}
	userID, err := pathID(r, "userId")
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	var tokenID int64
	if s := r.URL.Query().Get("tokenId"); s != "" {
		if tokenID, err = strconv.ParseInt(s, 10, 64); err != nil || tokenID <= 0 {
			h.WriteError(w, r, host.Errorf(host.EINVALID, "tokenId must be a token id"))
			return
		}
	}
	n, err := h.deps.Users.RevokeTokens(r.Context(), actor(r), userID, tokenID)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
