package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

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
// middleware; exceeding it is ETOOLARGE (413), anything unparsable is EINVALID saying
// what is wrong (decodeError). Unknown fields are refused so a typo ("pool_id" for
// "poolId") is an error, not a silent no-op.
func DecodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err, v)
	}
	// encoding/json would store U+FFFD for each bad byte, silently: a name sent in
	// Latin-1 came back as "��".
	if i := invalidUTF8(body); i >= 0 {
		return host.Errorf(host.EINVALID, "request body is not valid UTF-8 (JSON is UTF-8): the byte at %d", i)
	}
	// null decodes into a struct as no field at all, and the answer blamed the first
	// required field.
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return host.Errorf(host.EINVALID, "request body must be a JSON object, not null")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, v)
	}
	if dec.More() {
		return host.Errorf(host.EINVALID, "request body holds more than one JSON value")
	}
	// The same silent U+FFFD for a \u escape naming half a surrogate pair (a client that
	// cut "🏊" in two): refused like a bad byte, not stored as something else.
	if i := loneSurrogate(body); i >= 0 {
		return host.Errorf(host.EINVALID, "request body holds a \\u escape of half a UTF-16 surrogate pair at byte %d (a character cut in two); send the whole pair or the character itself", i)
	}
	if k, ok := duplicateKey(body); ok {
		return host.Errorf(host.EINVALID, "field %q is given more than once; give each field once", clip(k, 64))
	}
	if got, want, ok := keyCase(body, reflect.TypeOf(v)); ok {
		return host.Errorf(host.EINVALID, "unknown field %q: field names are case-sensitive; did you mean %q?", clip(got, 64), want)
	}
	return nil
}

// keyCase finds a key of body that names a field of v's struct types in other letter
// case than the field's own name ("Role" or "ROLE" for "role"). encoding/json matches
// names regardless of case, so {"ROLE": "owner"} set the role where whatever reads names
// as written (a proxy's rule, a log, the client's own check) saw none, and
// {"role": "viewer", "Role": "owner"} — one field given twice, which duplicateKey
// refuses only when the two agree in case — read as owner to the host. A field has one
// spelling, as a path id has (pathID). Keys of maps are the client's own and are not
// checked, nor is what a type that decodes itself holds.
func keyCase(body []byte, t reflect.Type) (got, want string, found bool) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&doc) != nil {
		return "", "", false
	}
	return keyCaseIn(doc, t)
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

func keyCaseIn(doc any, t reflect.Type) (got, want string, found bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return "", "", false
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, _ := doc.(map[string]any)
		fields := jsonFields(t)
		keys := slices.Sorted(maps.Keys(obj)) // the same refusal for the same body
	next:
		for _, k := range keys {
			for _, f := range fields {
				if f.name == k {
					if got, want, found := keyCaseIn(obj[k], f.typ); found {
						return got, want, true
					}
					continue next
				}
			}
			for _, f := range fields {
				if strings.EqualFold(f.name, k) {
					return k, f.name, true
				}
			}
		}
	case reflect.Map:
		obj, _ := doc.(map[string]any)
		for _, v := range obj {
			if got, want, found := keyCaseIn(v, t.Elem()); found {
				return got, want, true
			}
		}
	case reflect.Slice, reflect.Array:
		arr, _ := doc.([]any)
		for _, v := range arr {
			if got, want, found := keyCaseIn(v, t.Elem()); found {
				return got, want, true
			}
		}
	}
	return "", "", false
}

// jsonField is one field a JSON object decoded into a struct may name.
type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the JSON names of a struct's fields in declaration order (those of
// its untagged embedded structs included, as encoding/json promotes them), with their
// types. keyCase and fieldsOf both read it, so the names a body is refused for and the
// names the refusal offers are the same.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
			case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
				walk(f.Type)
			case !f.IsExported():
			case name == "":
				out = append(out, jsonField{f.Name, f.Type})
			default:
				out = append(out, jsonField{name, f.Type})
			}
		}
	}
	walk(t)
	return out
}

// invalidUTF8 is the offset of the first byte of b that is not valid UTF-8, or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// loneSurrogate is the offset of the first \u escape in a string of the JSON document b
// (one the decoder has taken) that names a UTF-16 surrogate outside a pair: a high one
// (D800–DBFF) not followed at once by a low one's escape (DC00–DFFF), or a low one
// alone. -1 when there is none. encoding/json decodes such an escape as U+FFFD.
func loneSurrogate(b []byte) int {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		var r rune
		for _, c := range b[i+2 : i+6] {
			switch {
			case c >= '0' && c <= '9':
				r = r<<4 | rune(c-'0')
			case c >= 'a' && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case c >= 'A' && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\':
			r, ok := hex4(i)
			switch {
			case !ok:
				i++ // a two-byte escape: \" \\ \/ \b \f \n \r \t
			case !utf16.IsSurrogate(r):
				i += 5
			default:
				// A pair decodes to one rune; a low half first, or a high one without
				// its low, to U+FFFD.
				if lo, ok := hex4(i + 6); !ok || utf16.DecodeRune(r, lo) == unicode.ReplacementChar {
					return i
				}
				i += 11
			}
		}
	}
	return -1
}

// duplicateKey finds a name given twice in one object of a JSON document the decoder has
// taken. encoding/json keeps the last, so {"role":"viewer","role":"owner"} would read as
// owner to the host and as viewer to whatever read the first (a proxy's rule, a log,
// the client's own check): refused instead, as checkQuery refuses a parameter given
// twice.
func duplicateKey(body []byte) (string, bool) {
	type frame struct {
		object, wantKey bool
		seen            map[string]bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			top := stack[n-1]
			if tok == json.Delim('}') {
				stack = stack[:n-1]
			} else {
				k, _ := tok.(string)
				if top.seen[k] {
					return k, true
				}
				top.seen[k], top.wantKey = true, false
				continue
			}
		} else {
			switch tok {
			case json.Delim('{'):
				stack = append(stack, &frame{object: true, wantKey: true, seen: map[string]bool{}})
				continue
			case json.Delim('['):
				stack = append(stack, &frame{})
				continue
			case json.Delim(']'):
				stack = stack[:len(stack)-1]
			}
		}
		// A value ended: the object around it wants its next key.
		if len(stack) == 0 {
			return "", false
		}
		if top := stack[len(stack)-1]; top.object {
			top.wantKey = true
		}
	}
}

// decodeError is the problem a body the decoder refused gets: which field is unknown
// (and which the route takes), which has the wrong type (and what it needs), or where
// the JSON breaks, so a client can fix its request from the answer alone. What the
// client wrote is echoed clipped.
func decodeError(err error, v any) error {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
		badTime  *time.ParseError
	)
	switch {
	case errors.As(err, &tooLarge):
		return host.Errorf(host.ETOOLARGE, "request body exceeds %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return host.Errorf(host.EINVALID, "request body is empty; a JSON object is expected")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return host.Errorf(host.EINVALID, "request body ends before its JSON value is complete")
	case errors.As(err, &syntax):
		return host.Errorf(host.EINVALID, "request body is not valid JSON: %s at byte %d", clip(syntax.Error(), 100), syntax.Offset)
	case errors.As(err, &typ):
		got, _, _ := strings.Cut(typ.Value, " ")
		if typ.Field == "" {
			return host.Errorf(host.EINVALID, "request body must be a JSON object, not %s", jsonNoun(got))
		}
		want := jsonKind(typ.Type)
		if m := fieldType(v, typ.Field); m != nil && m.Kind() == reflect.Map && m.Elem() == typ.Type {
			// The error names the map, not the key whose value is wrong: "input" must
			// be a string would be untrue of the object it is.
			return host.Errorf(host.EINVALID, "%q must be an object whose values are %s; one is %s", clip(typ.Field, 64), jsonPlural(want), jsonNoun(got))
		}
		if want == "a whole number" && got == "number" {
			return host.Errorf(host.EINVALID, "%q must be a whole number within range", clip(typ.Field, 64))
		}
		return host.Errorf(host.EINVALID, "%q must be %s, not %s", clip(typ.Field, 64), want, jsonNoun(got))
	case errors.As(err, &badTime):
		return host.Errorf(host.EINVALID, "a time in the body is not RFC 3339, e.g. 2026-01-02T15:04:05Z: %q", clip(badTime.Value, 64))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, uerr := strconv.Unquote(name); uerr == nil {
			name = n
		}
		return host.Errorf(host.EINVALID, "unknown field %q; %s", clip(name, 64), fieldsOf(v))
	}
	return host.Wrap(host.EINVALID, err, "request body is not valid JSON for this route")
}

// fieldType is the Go type of the field at a dotted JSON path in v (through structs,
// slices and pointers), or nil.
func fieldType(v any, path string) reflect.Type {
	t := reflect.TypeOf(v)
	for _, name := range strings.Split(path, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			return nil
		}
		var found reflect.Type
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == name || (tag == "" && strings.EqualFold(f.Name, name)) {
				found = f.Type
				break
			}
		}
		t = found
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// jsonPlural is jsonKind for several values: "a string" → "strings".
func jsonPlural(kind string) string {
	switch kind {
	case "true or false":
		return "true or false"
	case "another type":
		return "of another type"
	}
	_, noun, _ := strings.Cut(kind, " ")
	return noun + "s"
}

// jsonKind is what a JSON value must be to decode into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

// jsonNoun names a JSON value's type as the decoder reports it ("string", "number"…).
func jsonNoun(kind string) string {
	switch kind {
	case "array", "object":
		return "an " + kind
	case "bool":
		return "true or false"
	case "string", "number":
		return "a " + kind
	}
	return clip(kind, 16)
}

// fieldsOf lists the JSON fields a body decoded into v takes.
func fieldsOf(v any) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return "this route takes none such"
	}
	var names []string
	for _, f := range jsonFields(t) {
		names = append(names, f.name)
	}
	if len(names) == 0 {
		return "this route takes no fields"
	}
	return "this route takes " + strings.Join(names, ", ")
}

// pathID parses an integer id from the route. A malformed id cannot name anything the
// caller may see, so it is a plain 404 like any other unknown id. An id has one
// spelling, its decimal digits: "+7" and "007" (which ParseInt takes) are not another
// name for 7 that a cache, a log search or a proxy's rule would miss.
func pathID(r *http.Request, name string) (int64, error) {
	s, _ := routeVar(r, name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || s[0] < '1' || s[0] > '9' {
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
