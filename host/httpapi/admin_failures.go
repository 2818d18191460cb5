package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/store"
)

// WithFailures registers the dead-letter administration routes (admin token only). With
// a nil service they answer 503.
func WithFailures(svc *failures.Service) Option {
	return WithRoutes(func(rt *Router) {
		fail := func(fn func(*failures.Service) HandlerFunc) HandlerFunc {
			return needs(svc != nil, "failures", fn(svc))
		}
		rt.Admin(http.MethodGet, "/v1/admin/failures", fail(listFailures))
		rt.Admin(http.MethodPost, "/v1/admin/failures/requeue", fail(requeueFailures))
		rt.Admin(http.MethodGet, "/v1/admin/failures/{failureId}", fail(getFailure))
		rt.Admin(http.MethodPost, "/v1/admin/failures/{failureId}/requeue", fail(requeueFailure))
		rt.Admin(http.MethodDelete, "/v1/admin/failures/{failureId}", fail(discardFailure))
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

func listFailures(svc *failures.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		f := failures.Filter{Status: q.Get("status"), Provider: q.Get("provider")}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 500 {
				return host.Errorf(host.EINVALID, "limit must be 1..500")
			}
			f.Limit = n
		}
		if c := q.Get("cursor"); c != "" {
			var cur failuresCursor
			if err := DecodeCursor(c, &cur); err != nil {
				return err
			}
			f.BeforeID = cur.BeforeID
		}
		fs, next, err := svc.List(r.Context(), actor(r), f)
		if err != nil {
			return err
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
		return nil
	}
}

func getFailure(svc *failures.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "failureId")
		if err != nil {
			return err
		}
		f, err := svc.Get(r.Context(), actor(r), id)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, NewFailureView(f, true))
		return nil
	}
}

func requeueFailure(svc *failures.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "failureId")
		if err != nil {
			return err
		}
		f, err := svc.Requeue(r.Context(), actor(r), id)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, NewFailureView(f, false))
		return nil
	}
}

func requeueFailures(svc *failures.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Provider string     `json:"provider"`
			From     *time.Time `json:"from"`
			To       *time.Time `json:"to"`
		}
		if err := DecodeJSON(r, &in); err != nil {
			return err
		}
		f := failures.BulkFilter{Provider: in.Provider}
		if in.From != nil {
			f.From = *in.From
		}
		if in.To != nil {
			f.To = *in.To
		}
		ids, err := svc.RequeueBulk(r.Context(), actor(r), f)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, map[string]any{"requeued": len(ids), "ids": ids})
		return nil
	}
}

func discardFailure(svc *failures.Service) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "failureId")
		if err != nil {
			return err
		}
		if _, err := svc.Discard(r.Context(), actor(r), id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
