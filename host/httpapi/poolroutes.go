package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/pools"
)

// poolRoutes registers a pool's configuration, equipment, test sessions and what its
// readings mean (status, summary).
func (h *Handler) poolRoutes(rt *Router, pool func(HandlerFunc) HandlerFunc) {
	rt.User(http.MethodPatch, "/v1/pools/{poolId}", pool(h.patchPool))
	rt.User(http.MethodPost, "/v1/pools/{poolId}/devices/{deviceId}/suggestion/accept", pool(h.acceptSuggestion))
	rt.User(http.MethodGet, "/v1/pools/{poolId}/status", pool(h.poolStatus))
	rt.User(http.MethodGet, "/v1/pools/{poolId}/readings/summary", pool(h.readingsSummary))
	rt.User(http.MethodGet, "/v1/pools/{poolId}/test-sessions", pool(h.listTestSessions))
	rt.User(http.MethodPost, "/v1/pools/{poolId}/test-sessions", pool(h.createTestSession))
	rt.User(http.MethodGet, "/v1/pools/{poolId}/test-sessions/{sessionId}", pool(h.getTestSession))
	rt.User(http.MethodDelete, "/v1/pools/{poolId}/test-sessions/{sessionId}", pool(h.deleteTestSession))
	rt.User(http.MethodGet, "/v1/pools/{poolId}/equipment", pool(h.listEquipment))
	rt.User(http.MethodPost, "/v1/pools/{poolId}/equipment", pool(h.createEquipment))
	rt.User(http.MethodGet, "/v1/pools/{poolId}/equipment/{equipmentId}", pool(h.getEquipment))
	rt.User(http.MethodPatch, "/v1/pools/{poolId}/equipment/{equipmentId}", pool(h.patchEquipment))
	rt.User(http.MethodDelete, "/v1/pools/{poolId}/equipment/{equipmentId}", pool(h.deleteEquipment))
}

func (h *Handler) patchPool(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	var patch pools.Patch
	if err := DecodeJSON(r, &patch); err != nil {
		return err
	}
	if patch == nil {
		return host.Errorf(host.EINVALID, "the body must be a JSON object")
	}
	p, err := h.deps.Pools.UpdateConfig(r.Context(), actor(r), id, patch)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, p)
	return nil
}

// acceptSuggestion applies a linked device's suggested configuration to the pool.
func (h *Handler) acceptSuggestion(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	deviceID, err := pathID(r, "deviceId")
	if err != nil {
		return err
	}
	p, err := h.deps.Pools.AcceptSuggestion(r.Context(), actor(r), id, deviceID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, p)
	return nil
}

func (h *Handler) poolStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	var stale time.Duration
	if s := r.URL.Query().Get("staleAfter"); s != "" {
		if stale, err = time.ParseDuration(s); err != nil || stale <= 0 {
			return host.Errorf(host.EINVALID, "staleAfter must be a duration such as 90m or 6h")
		}
	}
	st, err := h.deps.Pools.Status(r.Context(), actor(r), id, stale)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, st)
	return nil
}

func (h *Handler) readingsSummary(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	sq := pools.SummaryQuery{PoolID: id, Metric: q.Get("metric"), Bucket: q.Get("bucket")}
	if sq.From, err = queryTime(q, "from"); err != nil {
		return err
	}
	if sq.To, err = queryTime(q, "to"); err != nil {
		return err
	}
	sum, err := h.deps.Pools.Summary(r.Context(), actor(r), sq)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, sum)
	return nil
}

func (h *Handler) listTestSessions(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	var before *pools.ReadingPos
	if c := q.Get("cursor"); c != "" {
		before = &pools.ReadingPos{}
		if err := DecodeCursor(c, before); err != nil {
			return err
		}
	}
	page, err := h.deps.Pools.TestSessions(r.Context(), actor(r), id, limit, before)
	if err != nil {
		return err
	}
	out := map[string]any{"testSessions": page.Sessions}
	if page.Next != nil {
		out["nextCursor"] = EncodeCursor(page.Next)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) createTestSession(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	var in pools.NewTestSession
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	c, err := h.deps.Pools.CreateTestSession(r.Context(), actor(r), id, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/pools/"+strconv.FormatInt(id, 10)+"/test-sessions/"+strconv.FormatInt(c.Session.ID, 10))
	WriteJSON(w, http.StatusCreated, c)
	return nil
}

func (h *Handler) getTestSession(w http.ResponseWriter, r *http.Request) error {
	poolID, id, err := twoIDs(r, "sessionId")
	if err != nil {
		return err
	}
	s, err := h.deps.Pools.TestSession(r.Context(), actor(r), poolID, id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, s)
	return nil
}

func (h *Handler) deleteTestSession(w http.ResponseWriter, r *http.Request) error {
	poolID, id, err := twoIDs(r, "sessionId")
	if err != nil {
		return err
	}
	if err := h.deps.Pools.DeleteTestSession(r.Context(), actor(r), poolID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listEquipment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	es, err := h.deps.Pools.ListEquipment(r.Context(), actor(r), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]any{"equipment": es})
	return nil
}

func (h *Handler) createEquipment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "poolId")
	if err != nil {
		return err
	}
	var in pools.EquipmentInput
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	e, err := h.deps.Pools.CreateEquipment(r.Context(), actor(r), id, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/pools/"+strconv.FormatInt(id, 10)+"/equipment/"+strconv.FormatInt(e.ID, 10))
	WriteJSON(w, http.StatusCreated, e)
	return nil
}

func (h *Handler) getEquipment(w http.ResponseWriter, r *http.Request) error {
	poolID, id, err := twoIDs(r, "equipmentId")
	if err != nil {
		return err
	}
	e, err := h.deps.Pools.GetEquipment(r.Context(), actor(r), poolID, id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

func (h *Handler) patchEquipment(w http.ResponseWriter, r *http.Request) error {
	poolID, id, err := twoIDs(r, "equipmentId")
	if err != nil {
		return err
	}
	var patch map[string]json.RawMessage
	if err := DecodeJSON(r, &patch); err != nil {
		return err
	}
	e, err := h.deps.Pools.UpdateEquipment(r.Context(), actor(r), poolID, id, patch)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

func (h *Handler) deleteEquipment(w http.ResponseWriter, r *http.Request) error {
	poolID, id, err := twoIDs(r, "equipmentId")
	if err != nil {
		return err
	}
	if err := h.deps.Pools.DeleteEquipment(r.Context(), actor(r), poolID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// twoIDs reads poolId and a second path id.
func twoIDs(r *http.Request, name string) (int64, int64, error) {
	poolID, err := pathID(r, "poolId")
	if err != nil {
		return 0, 0, err
	}
	id, err := pathID(r, name)
	return poolID, id, err
}
