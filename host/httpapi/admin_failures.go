package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/store"
)

// WithFailures registers the dead-letter administration routes (admin token only).
func WithFailures(svc *failures.Service) Option {
	return WithRoutes(func(rt *Router) {
		rt.Admin(http.MethodGet, "/v1/admin/failures", listFailures(rt, svc))
		rt.Admin(http.MethodPost, "/v1/admin/failures/requeue", requeueFailures(rt, svc))
		rt.Admin(http.MethodGet, "/v1/admin/failures/{failureId}", getFailure(rt, svc))
		rt.Admin(http.MethodPost, "/v1/admin/failures/{failureId}/requeue", requeueFailure(rt, svc))
		rt.Admin(http.MethodDelete, "/v1/admin/failures/{failureId}", discardFailure(rt, svc))
	})
}

// FailureView is a failure as the admin API shows it. The payload is the verified body
// exactly as received (base64 in JSON); the headers kept exclude credentials.
type FailureView struct {
	ID            int64                `json:"id"`
	Provider      string               `json:"provider"`
	AccountID     int64                `json:"accountId,omitempty"`
	Status        string               `json:"status"`
	Attempts      int                  `json:"attempts"`
	MaxAttempts   int                  `json:"maxAttempts"`
	NextAttemptAt time.Time            `json:"nextAttemptAt"`
	DeliveryID    string               `json:"deliveryId,omitempty"`
	ReceivedAt    time.Time            `json:"receivedAt"`
	CreatedAt     time.Time            `json:"createdAt"`
	UpdatedAt     time.Time            `json:"updatedAt"`
	ResolvedAt    *time.Time           `json:"resolvedAt,omitempty"`
	LeaseOwner    string               `json:"leaseOwner,omitempty"`
	LastError     string               `json:"lastError"`
	ErrorHistory  []store.FailureError `json:"errorHistory"`
	Headers       map[string][]string  `json:"headers,omitempty"`
	Payload       []byte               `json:"payload,omitempty"`
}

// NewFailureView converts a stored failure; withBody adds the payload and headers.
func NewFailureView(f store.Failure, withBody bool) FailureView {
	v := FailureView{
		ID: f.ID, Provider: f.Provider, AccountID: f.AccountID, Status: string(f.Status),
		Attempts: f.Attempts, MaxAttempts: f.MaxAttempts, NextAttemptAt: f.NextAttemptAt,
		DeliveryID: f.DeliveryID, ReceivedAt: f.ReceivedAt, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt,
		ResolvedAt: f.ResolvedAt, LeaseOwner: f.LeaseOwner, LastError: f.LastError,
		ErrorHistory: []store.FailureError(f.ErrorHistory),
	}
	if v.ErrorHistory == nil {
		v.ErrorHistory = []store.FailureError{}
	}
	if withBody {
		v.Headers = f.Headers
		v.Payload = f.Payload
	}
	return v
}

type failuresCursor struct {
	BeforeID int64 `json:"b"`
}

func listFailures(rt *Router, svc *failures.Service) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := failures.Filter{Status: q.Get("status"), Provider: q.Get("provider")}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 500 {
				rt.Error(w, r, host.Errorf(host.EINVALID, "limit must be 1..500"))
				return
			}
			f.Limit = n
		}
		if c := q.Get("cursor"); c != "" {
			var cur failuresCursor
			if err := DecodeCursor(c, &cur); err != nil {
				rt.Error(w, r, err)
				return
			}
			f.BeforeID = cur.BeforeID
		}
		fs, next, err := svc.List(r.Context(), f)
		if err != nil {
			rt.Error(w, r, err)
			return
		}
		out := struct {
			Failures   []FailureView `json:"failures"`
			NextCursor string        `json:"nextCursor,omitempty"`
		}{Failures: make([]FailureView, 0, len(fs))}
		for _, fl := range fs {
			out.Failures = append(out.Failures, NewFailureView(fl, false))
		}
		if next != 0 {
			out.NextCursor = EncodeCursor(failuresCursor{BeforeID: next})
		}
		WriteJSON(w, http.StatusOK, out)
	}
}

func getFailure(rt *Router, svc *failures.Service) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r, "failureId")
		if err != nil {
			rt.Error(w, r, err)
			return
		}
		f, err := svc.Get(r.Context(), id)
		if err != nil {
			rt.Error(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, NewFailureView(f, true))
	}
}

func actorOf(r *http.Request) auth.Actor {
	a, _ := auth.ActorFrom(r.Context())
	return a
}

func requeueFailure(rt *Router, svc *failures.Service) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r, "failureId")
		if err != nil {
			rt.Error(w, r, err)
			return
		}
		f, err := svc.Requeue(r.Context(), actorOf(r), id)
		if err != nil {
			rt.Error(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, NewFailureView(f, false))
	}
}

func requeueFailures(rt *Router, svc *failures.Service) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Provider string     `json:"provider"`
			From     *time.Time `json:"from"`
			To       *time.Time `json:"to"`
		}
		if err := DecodeJSON(r, &in); err != nil {
			rt.Error(w, r, err)
			return
		}
		f := failures.BulkFilter{Provider: in.Provider}
		if in.From != nil {
			f.From = *in.From
		}
		if in.To != nil {
			f.To = *in.To
		}
		ids, err := svc.RequeueBulk(r.Context(), actorOf(r), f)
		if err != nil {
			rt.Error(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"requeued": len(ids), "ids": ids})
	}
}

func discardFailure(rt *Router, svc *failures.Service) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r, "failureId")
		if err != nil {
			rt.Error(w, r, err)
			return
		}
		if _, err := svc.Discard(r.Context(), actorOf(r), id); err != nil {
			rt.Error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
