package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/commands"
)

// commandRoutes registers the write/control routes: equipment binding, commands, their
// cancellation. The rules (roles, approval, validation, audit) are commands.Service's.
func (h *Handler) commandRoutes(rt *Router) {
	svc := h.deps.Commands
	{
		cmd := func(fn func(*commands.Service) HandlerFunc) HandlerFunc {
			return needs(svc != nil, "commands", fn(svc))
		}
		rt.User(http.MethodGet, "/v1/pools/{poolId}/equipment/{equipmentId}/device", cmd(getBinding))
		rt.User(http.MethodPut, "/v1/pools/{poolId}/equipment/{equipmentId}/device", cmd(putBinding))
		rt.User(http.MethodDelete, "/v1/pools/{poolId}/equipment/{equipmentId}/device", cmd(deleteBinding))
		rt.User(http.MethodPost, "/v1/pools/{poolId}/equipment/{equipmentId}/commands", cmd(postCommand))
		rt.User(http.MethodGet, "/v1/pools/{poolId}/commands", cmd(listCommands))
		rt.User(http.MethodGet, "/v1/pools/{poolId}/commands/{commandId}", cmd(getCommand))
		rt.User(http.MethodPost, "/v1/pools/{poolId}/commands/{commandId}/cancel", cmd(cancelCommand))
	}
}

func getBinding(svc *commands.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		poolID, id, err := twoIDs(r, "equipmentId")
		if err != nil {
			return err
		}
		b, err := svc.GetBinding(r.Context(), actor(r), poolID, id)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, b)
		return nil
	}
}

func putBinding(svc *commands.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		poolID, id, err := twoIDs(r, "equipmentId")
		if err != nil {
			return err
		}
		var in struct {
			DeviceID int64  `json:"deviceId"`
			Channel  string `json:"channel"`
		}
		if err := DecodeJSON(r, &in); err != nil {
			return err
		}
		if in.DeviceID <= 0 {
			return host.Errorf(host.EINVALID, "deviceId must be a positive device id (DELETE unbinds)")
		}
		b, err := svc.Bind(r.Context(), actor(r), poolID, id, in.DeviceID, in.Channel)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, b)
		return nil
	}
}

func deleteBinding(svc *commands.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		poolID, id, err := twoIDs(r, "equipmentId")
		if err != nil {
			return err
		}
		if _, err := svc.Bind(r.Context(), actor(r), poolID, id, 0, ""); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func postCommand(svc *commands.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		poolID, id, err := twoIDs(r, "equipmentId")
		if err != nil {
			return err
		}
		dryRun := false
		if v := r.URL.Query().Get("dryRun"); v != "" {
			if dryRun, err = strconv.ParseBool(v); err != nil {
				return host.Errorf(host.EINVALID, "dryRun must be true or false")
			}
		}
		var in commands.Request
		if err := DecodeJSON(r, &in); err != nil {
			return err
		}
		// One key, as one Authorization header: with two, the host would dedupe on the
		// first while a proxy, a gateway adding its own or the client's log may go by
		// another, and an actuator's send is at most once only if all agree which.
		if n := len(r.Header.Values("Idempotency-Key")); n > 1 {
			return host.Errorf(host.EINVALID, "give one Idempotency-Key header, not %d", n)
		}
		sub, err := svc.Submit(r.Context(), actor(r), poolID, id, in, strings.TrimSpace(r.Header.Get("Idempotency-Key")), dryRun)
		if err != nil {
			return err
		}
		if sub.Preview != nil {
			WriteJSON(w, http.StatusOK, sub.Preview)
			return nil
		}
		w.Header().Set("Location", "/v1/pools/"+strconv.FormatInt(poolID, 10)+"/commands/"+sub.Command.ID)
		status := http.StatusAccepted
		if !sub.Created {
			// The Idempotency-Key's earlier answer: the same command, not a new one.
			status = http.StatusOK
		}
		WriteJSON(w, status, sub.Command)
		return nil
	}
}

func listCommands(svc *commands.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		poolID, err := pathID(r, "poolId")
		if err != nil {
			return err
		}
		var statuses []string
		if v := r.URL.Query().Get("status"); v != "" {
			statuses = strings.Split(v, ",")
		}
		limit := 0
		if v := r.URL.Query().Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
				return host.Errorf(host.EINVALID, "limit must be between 1 and 1000")
			}
		}
		cs, err := svc.List(r.Context(), actor(r), poolID, statuses, limit)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, map[string]any{"commands": cs})
		return nil
	}
}

func commandPath(r *http.Request) (int64, string, error) {
	poolID, err := pathID(r, "poolId")
	if err != nil {
		return 0, "", err
	}
	id := mux.Vars(r)["commandId"]
	if id == "" || len(id) > 64 {
		return 0, "", host.Errorf(host.EINVALID, "commandId is not a command id")
	}
	return poolID, id, nil
}

func getCommand(svc *commands.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		poolID, id, err := commandPath(r)
		if err != nil {
			return err
		}
		c, err := svc.Get(r.Context(), actor(r), poolID, id)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, c)
		return nil
	}
}

func cancelCommand(svc *commands.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		poolID, id, err := commandPath(r)
		if err != nil {
			return err
		}
		c, err := svc.Cancel(r.Context(), actor(r), poolID, id)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, c)
		return nil
	}
}
