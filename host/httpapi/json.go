package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/poolhost/poolhost/host"
)

// Header values every JSON answer carries, made once and shared: Header.Set makes a
// one-value slice per call, 2 allocations per request (host/bench). Nothing writes into
// a header's slice (net/http copies them; Add would append to a copy, the cap being 1).
var (
	jsonContentType    = []string{"application/json"}
	problemContentType = []string{"application/problem+json"}
	nosniff            = []string{"nosniff"}
)

// WriteJSON answers v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h["Content-Type"], h["X-Content-Type-Options"] = jsonContentType, nosniff
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// DecodeJSON reads a JSON body into v. The body is already capped by the size-limit
// middleware; exceeding it is ETOOLARGE (413), anything unparsable is EINVALID. Unknown
// fields are refused so a typo ("pool_id" for "poolId") is an error, not a silent no-op.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return host.Errorf(host.ETOOLARGE, "request body exceeds %d bytes", tooLarge.Limit)
		case errors.Is(err, io.EOF):
			return host.Errorf(host.EINVALID, "request body is empty; a JSON object is expected")
		default:
			return host.Wrap(host.EINVALID, err, "request body is not valid JSON for this route")
		}
	}
	if dec.More() {
		return host.Errorf(host.EINVALID, "request body holds more than one JSON value")
	}
	return nil
}

// pathID parses an integer id from the route. A malformed id cannot name anything the
// caller may see, so it is a plain 404 like any other unknown id.
func pathID(r *http.Request, name string) (int64, error) {
	s, _ := routeVar(r, name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, host.Errorf(host.ENOTFOUND, "no such %s", name)
	}
	return id, nil
}

// Cursors are opaque to clients: base64url of a small JSON document. Clients must send
// them back unchanged; anything else is EINVALID. Authorization is re-checked on every
// page, so a forged cursor can at most skip rows the caller may see anyway.

// EncodeCursor turns a position into an opaque cursor.
func EncodeCursor(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "" // positions are plain structs; cannot fail
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a cursor produced by EncodeCursor into v.
func DecodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return host.Errorf(host.EINVALID, "invalid cursor")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return host.Errorf(host.EINVALID, "invalid cursor")
	}
	return nil
}
