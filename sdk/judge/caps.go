package judge

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/poolhost/poolhost/sdk"
)

// The host does not trust what a plugin returns any more than what the internet sends: a
// plugin could hand back 100,000 readings or megabyte ids that the host would store
// verbatim. An answer over a cap is refused whole, as a permanent failure of that call,
// so nothing of it is stored and an operator sees why. Refusing the whole answer rather
// than trimming it keeps "what was stored" equal to "what the plugin said".

// Caps bound a plugin's answers; the host's are its plugins { max_* } settings.
type Caps struct {
	// MaxMessageBytes caps one gRPC message from the plugin; the gRPC client enforces
	// it (see sdk/grpcplugin.MaxMessage), not [Answer].
	MaxMessageBytes    int64
	MaxReadingsPerCall int
	MaxDeviceIDBytes   int // also bounds the provider account id a payload names
	MaxDeliveryIDBytes int
	MaxMetricBytes     int
	MaxUnitBytes       int
	MaxRawPayloadBytes int // also bounds a discovered device's metadata, keys and values
	// A discovery's answer (CheckDevices): devices per call, and the bytes of a
	// device's name and of its model.
	MaxDevicesPerCall  int
	MaxDeviceNameBytes int
}

// DefaultCaps are the host's defaults.
var DefaultCaps = Caps{
	MaxMessageBytes:    16 << 20,
	MaxReadingsPerCall: 10000,
	MaxDeviceIDBytes:   256,
	MaxDeliveryIDBytes: 256,
	MaxMetricBytes:     64,
	MaxUnitBytes:       32,
	MaxRawPayloadBytes: 64 << 10,
	MaxDevicesPerCall:  10000,
	MaxDeviceNameBytes: 1 << 10,
}

// WithDefaults returns c with every unset (zero or negative) cap at its default.
func (c Caps) WithDefaults() Caps {
	d := DefaultCaps
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&c.MaxReadingsPerCall, d.MaxReadingsPerCall}, {&c.MaxDeviceIDBytes, d.MaxDeviceIDBytes},
		{&c.MaxDeliveryIDBytes, d.MaxDeliveryIDBytes}, {&c.MaxMetricBytes, d.MaxMetricBytes},
		{&c.MaxUnitBytes, d.MaxUnitBytes}, {&c.MaxRawPayloadBytes, d.MaxRawPayloadBytes},
		{&c.MaxDevicesPerCall, d.MaxDevicesPerCall}, {&c.MaxDeviceNameBytes, d.MaxDeviceNameBytes},
	} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	return c
}

// MaxNotesBytes caps a test session's notes, as members' are.
const MaxNotesBytes = 2000

// CapUTF8 is the cap a string that is not valid UTF-8 breaks. Over gRPC protobuf already
// refuses such a string; an adapter tested in-process is judged here the same.
const CapUTF8 = "utf8"

// Answer is what a plugin answered a webhook or a poll with: the parts the host stores.
type Answer struct {
	DeliveryID        string
	ProviderAccountID string
	Readings          []sdk.Reading
	TestSessions      []sdk.TestSession
	// CommandUpdates are the provider's word on commands the host sent: each one is
	// looked up and may change a command's row and add an audit row.
	CommandUpdates []sdk.CommandUpdate
	// Polled marks the answer of a poll rather than of a webhook delivery. It changes no
	// verdict, only what Problems names as the time readings were judged against: the
	// poll's time (when its answer came in) rather than the delivery's receipt time.
	Polled bool
}

// reference names the time the answer's readings and sessions are judged against
// (Judge's receivedAt), as the host knows it on each path.
func (a Answer) reference() string {
	if a.Polled {
		return "the poll's time (when its answer came in)"
	}
	return "the delivery's receipt time (received_at)"
}

// MaxCommandUpdatesPerCall caps the command updates of one answer: a provider reports on
// the few commands in flight on an account's devices (one at a time per device), and
// each update costs the host a lookup, so a delivery naming 45,000 command ids within
// the body limit cost the host seconds of work.
const MaxCommandUpdatesPerCall = 100

// Refusal is the error of a refused answer: the cap it broke (the "limit" label of
// poolhost_plugin_answers_refused_total) and by how much. It is a permanent failure
// (sdk.KindOf reports KindPermanent).
type Refusal struct {
	Cap string
	err error
}

func (r *Refusal) Error() string { return r.err.Error() }
func (r *Refusal) Unwrap() error { return r.err }

// CapOf returns the cap a refusal broke, or "" when err is not one.
func CapOf(err error) string {
	if err == nil {
		return "" // before r, which errors.As makes escape: an allocation per answer judged
	}
	var r *Refusal
	if errors.As(err, &r) {
		return r.Cap
	}
	return ""
}

func refuse(limit, format string, args ...any) error {
	return &Refusal{Cap: limit, err: sdk.Permanent("plugin answer refused: "+format, args...)}
}

// Check returns nil when a is within c, else a *Refusal naming the first cap a breaks.
// Unset caps in c take their defaults.
func (c Caps) Check(a Answer) error {
	c = c.WithDefaults()
	if n := len(a.ProviderAccountID); n > c.MaxDeviceIDBytes {
		return refuse("account_id", "provider account id of %d bytes exceeds plugins.max_device_id_bytes (%d)", n, c.MaxDeviceIDBytes)
	}
	if n := len(a.DeliveryID); n > c.MaxDeliveryIDBytes {
		return refuse("delivery_id", "delivery id of %d bytes exceeds plugins.max_delivery_id_bytes (%d)", n, c.MaxDeliveryIDBytes)
	}
	for _, f := range []struct{ name, v string }{{"provider account id", a.ProviderAccountID}, {"delivery id", a.DeliveryID}} {
		if !utf8.ValidString(f.v) {
			return refuse(CapUTF8, "the %s is not valid UTF-8", f.name)
		}
	}
	if n := len(a.Readings); n > c.MaxReadingsPerCall {
		return refuse("readings", "%d readings exceed plugins.max_readings_per_call (%d)", n, c.MaxReadingsPerCall)
	}
	if n := len(a.CommandUpdates); n > MaxCommandUpdatesPerCall {
		return refuse("command_updates", "%d command updates exceed %d per answer", n, MaxCommandUpdatesPerCall)
	}
	for i, u := range a.CommandUpdates {
		if n := max(len(u.CommandID), len(u.ProviderRef)); n > c.MaxDeviceIDBytes {
			return refuse("command_updates", "command update %d names a command id or provider reference of %d bytes, over plugins.max_device_id_bytes (%d)", i, n, c.MaxDeviceIDBytes)
		}
	}
	// A test session's results are measurements too: they share the readings' cap, and
	// each session counts one more for its own row.
	n := len(a.Readings)
	for _, s := range a.TestSessions {
		n += 1 + len(s.Results)
	}
	if n > c.MaxReadingsPerCall {
		return refuse("readings", "%d readings, test sessions and results exceed plugins.max_readings_per_call (%d)", n, c.MaxReadingsPerCall)
	}
	for i, s := range a.TestSessions {
		if len(s.ProviderDeviceID) > c.MaxDeviceIDBytes {
			return refuse("device_id", "test session %d has a device_id of %d bytes, over plugins.max_device_id_bytes (%d)", i, len(s.ProviderDeviceID), c.MaxDeviceIDBytes)
		}
		if len(s.Notes) > MaxNotesBytes {
			return refuse("notes", "test session %d has notes of %d bytes, over %d", i, len(s.Notes), MaxNotesBytes)
		}
		for _, f := range []struct{ name, v string }{{"device_id", s.ProviderDeviceID}, {"method", s.Method}, {"notes", s.Notes}} {
			if !utf8.ValidString(f.v) {
				return refuse(CapUTF8, "test session %d has a %s that is not valid UTF-8", i, f.name)
			}
		}
		for j, r := range s.Results {
			if len(r.Metric) > c.MaxMetricBytes {
				return refuse("metric", "test session %d result %d has a metric of %d bytes, over plugins.max_metric_bytes (%d)", i, j, len(r.Metric), c.MaxMetricBytes)
			}
			if len(r.Unit) > c.MaxUnitBytes {
				return refuse("unit", "test session %d result %d has a unit of %d bytes, over plugins.max_unit_bytes (%d)", i, j, len(r.Unit), c.MaxUnitBytes)
			}
			if !utf8.ValidString(r.Metric) || !utf8.ValidString(r.Unit) {
				return refuse(CapUTF8, "test session %d result %d has a metric or unit that is not valid UTF-8", i, j)
			}
		}
	}
	for i, r := range a.Readings {
		for _, f := range []struct {
			name, attr string
			n, max     int
		}{
			{"device_id", "max_device_id_bytes", len(r.ProviderDeviceID), c.MaxDeviceIDBytes},
			{"metric", "max_metric_bytes", len(r.Metric), c.MaxMetricBytes},
			{"unit", "max_unit_bytes", len(r.Unit), c.MaxUnitBytes},
			{"raw_payload", "max_raw_payload_bytes", len(r.RawPayload), c.MaxRawPayloadBytes},
		} {
			if f.n > f.max {
				return refuse(f.name, "reading %d has a %s of %d bytes, over plugins.%s (%d)", i, f.name, f.n, f.attr, f.max)
			}
		}
		for _, f := range []struct{ name, v string }{{"device_id", r.ProviderDeviceID}, {"metric", r.Metric}, {"unit", r.Unit}} {
			if !utf8.ValidString(f.v) {
				return refuse(CapUTF8, "reading %d has a %s that is not valid UTF-8", i, f.name)
			}
		}
	}
	return nil
}

// CheckDevices is Check for a discovery's answer, whose devices the host stores as
// they are (one row and one audit row each): nil when ds is within c, else a *Refusal
// naming the first cap ds breaks. Unset caps in c take their defaults.
func (c Caps) CheckDevices(ds []sdk.Device) error {
	c = c.WithDefaults()
	if n := len(ds); n > c.MaxDevicesPerCall {
		return refuse("devices", "%d devices exceed plugins.max_devices_per_call (%d)", n, c.MaxDevicesPerCall)
	}
	for i, d := range ds {
		meta := 0
		for k, v := range d.Metadata {
			meta += len(k) + len(v)
		}
		for _, f := range []struct {
			name, attr string
			n, max     int
		}{
			{"device_id", "max_device_id_bytes", len(d.ProviderDeviceID), c.MaxDeviceIDBytes},
			{"name", "max_device_name_bytes", len(d.Name), c.MaxDeviceNameBytes},
			{"model", "max_device_name_bytes", len(d.Model), c.MaxDeviceNameBytes},
			{"metadata", "max_raw_payload_bytes", meta, c.MaxRawPayloadBytes},
		} {
			if f.n > f.max {
				return refuse(f.name, "device %d has a %s of %d bytes, over plugins.%s (%d)", i, f.name, f.n, f.attr, f.max)
			}
		}
		for _, f := range []struct{ name, v string }{{"device_id", d.ProviderDeviceID}, {"name", d.Name}, {"model", d.Model}} {
			if !utf8.ValidString(f.v) {
				return refuse(CapUTF8, "device %d has a %s that is not valid UTF-8", i, f.name)
			}
		}
	}
	return nil
}

// CheckLinkage is Check for the account a connect or a callback links: nil when l is
// within c, else a *Refusal. The provider's id of the account is stored, shown on every
// account read and matched against the id a payload names, so it has that id's cap
// (max_device_id_bytes) and follows sdk.CheckID (a NUL fails the insert on PostgreSQL;
// an escape sequence forges a terminal's output). Its credentials are stored
// encrypted whole, so together they are capped like a raw payload.
func (c Caps) CheckLinkage(l sdk.Linkage) error {
	c = c.WithDefaults()
	id := l.ExternalAccountID
	if n := len(id); n > c.MaxDeviceIDBytes {
		return refuse("account_id", "provider account id of %d bytes exceeds plugins.max_device_id_bytes (%d)", n, c.MaxDeviceIDBytes)
	}
	if !utf8.ValidString(id) {
		return refuse(CapUTF8, "the provider account id is not valid UTF-8")
	}
	for i, alt := range l.AlternateAccountIDs { // matched against stored ids: the same cap
		if n := len(alt); n > c.MaxDeviceIDBytes {
			return refuse("account_id", "alternate provider account id %d of %d bytes exceeds plugins.max_device_id_bytes (%d)", i, n, c.MaxDeviceIDBytes)
		}
	}
	if err := l.Check(); err != nil { // the SDK's rule for ids, which a Go plugin applied already
		return &Refusal{Cap: "account_id", err: fmt.Errorf("plugin answer refused: %w", err)}
	}
	return c.CheckCredentials(l.Credentials)
}

// CapCredentials is the cap refreshed credentials over plugins.max_raw_payload_bytes
// break ([Caps.CheckCredentials]). A call refused on it keeps none of its tokens; refused
// on another cap, the tokens the plugin rotated on the way are still the account's.
const CapCredentials = "credentials"

// CheckCredentials is Check for the credentials a call hands back refreshed (a poll, a
// discovery, a command, or an error after a refresh): the host stores them encrypted
// whole in place of the account's, and sends them on every later call, so they have a
// linkage's cap. Unset caps in c take their defaults.
func (c Caps) CheckCredentials(creds sdk.Credentials) error {
	c = c.WithDefaults()
	n := 0
	for k, v := range creds {
		n += len(k) + len(v)
	}
	if n > c.MaxRawPayloadBytes {
		return refuse(CapCredentials, "credentials of %d bytes exceed plugins.max_raw_payload_bytes (%d)", n, c.MaxRawPayloadBytes)
	}
	return nil
}

// CheckCursor is Check for the cursor a poll answers: the host stores it with the
// account's poll state and hands it back on the next poll, so it has a raw payload's cap;
// and it must be storable, which a NUL byte is not on PostgreSQL (the poll would fail
// on every try). Unset caps in c take their defaults.
func (c Caps) CheckCursor(cursor string) error {
	c = c.WithDefaults()
	if n := len(cursor); n > c.MaxRawPayloadBytes {
		return refuse("cursor", "poll cursor of %d bytes exceeds plugins.max_raw_payload_bytes (%d)", n, c.MaxRawPayloadBytes)
	}
	if strings.IndexByte(cursor, 0) >= 0 {
		return refuse("cursor", "the poll cursor holds a NUL byte, which the database cannot store")
	}
	return nil
}

// Verdict is what the host would make of one answer: refused whole, or each reading and
// session kept or dropped with its reason.
type Verdict struct {
	// Refused is the *Refusal when the answer breaks a cap; nothing else is then judged.
	Refused error
	// Readings and Sessions hold one drop reason per reading and session, "" for kept.
	Readings []string
	Sessions []string
	// Results holds, per session, the results left out of it.
	Results [][]DroppedResult
}

// Judge is everything the host decides about an answer without its database: [Caps.Check],
// then [Reading] and [Session] for each part, against receivedAt and w.
func Judge(c Caps, w Window, receivedAt time.Time, a Answer) Verdict {
	if err := c.Check(a); err != nil {
		return Verdict{Refused: err}
	}
	return parts(w, receivedAt, a)
}

// parts judges each reading and test session of an answer within its caps.
func parts(w Window, receivedAt time.Time, a Answer) Verdict {
	var v Verdict
	for _, r := range a.Readings {
		_, reason := Reading(r, receivedAt, w)
		v.Readings = append(v.Readings, reason)
	}
	for _, s := range a.TestSessions {
		_, dropped, reason := Session(s, receivedAt, w)
		v.Sessions = append(v.Sessions, reason)
		v.Results = append(v.Results, dropped)
	}
	return v
}

// Problems lists what the host would refuse or drop, one line each ("reading 3 (fc):
// dropped as unknown_metric"); nil when it would keep everything.
func (v Verdict) Problems(a Answer) []string {
	if v.Refused != nil {
		msg := v.Refused.Error()
		var e *sdk.Error
		if errors.As(v.Refused, &e) {
			msg = e.Message
		}
		return []string{fmt.Sprintf("refused (cap %s): %s", CapOf(v.Refused), msg)}
	}
	var out []string
	for i, reason := range v.Readings {
		if reason != "" {
			r := a.Readings[i]
			out = append(out, fmt.Sprintf("reading %d (%s): dropped as %s%s", i, r.Metric, reason, why(reason, r.Metric, r.Value, r.Unit, r.Qualifier, r.RecordedAt, a.reference())))
		}
	}
	for i, reason := range v.Sessions {
		for _, d := range v.Results[i] {
			var hint string
			if rs := a.TestSessions[i].Results; d.Index < len(rs) {
				r := rs[d.Index]
				hint = why(d.Reason, r.Metric, r.Value, r.Unit, r.Qualifier, a.TestSessions[i].TakenAt, a.reference())
			}
			out = append(out, fmt.Sprintf("test session %d result %d (%s): dropped as %s%s", i, d.Index, d.Metric, d.Reason, hint))
		}
		if reason != "" {
			out = append(out, fmt.Sprintf("test session %d: dropped as %s", i, reason))
		}
	}
	return out
}
