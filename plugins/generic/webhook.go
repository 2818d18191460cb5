package generic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/signature"
)

// Report is one device's report, the unit of the generic payload (see the package
// documentation). It is exported so senders written in Go can marshal it.
type Report struct {
	DeviceID string          `json:"device_id"`
	Readings []ReportReading `json:"readings"`
	// TestSessions are water tests of the device's pool (a photometer's panel): the
	// host stores them as test sessions, not readings. Optional.
	TestSessions []ReportTestSession `json:"test_sessions,omitempty"`
}

// ReportTestSession is one water test in a Report: several results taken together.
type ReportTestSession struct {
	// TakenAt is RFC 3339; empty means "when poolhost received it". With the device it
	// identifies the session: a resent one is stored once.
	TakenAt string `json:"taken_at,omitempty"`
	// Method is strips, drops, photometer, lab or other.
	Method  string             `json:"method,omitempty"`
	Notes   string             `json:"notes,omitempty"`
	Results []ReportTestResult `json:"results"`
}

// ReportTestResult is one result of a ReportTestSession.
type ReportTestResult struct {
	Metric string   `json:"metric"`
	Value  *float64 `json:"value"`
	Unit   string   `json:"unit,omitempty"`
	// Qualifier "above" or "below": Value is the bound of the test's range ("FC > 10"
	// is value 10, "above"). The host judges it; anything else is dropped as bad_qualifier.
	Qualifier string `json:"qualifier,omitempty"`
}

// ReportReading is one measurement in a Report.
type ReportReading struct {
	Metric string `json:"metric"`
	// Value is required; a pointer tells "0" from "missing".
	Value *float64 `json:"value"`
	Unit  string   `json:"unit,omitempty"`
	// RecordedAt is RFC 3339; empty means "when poolhost received it".
	RecordedAt string `json:"recorded_at,omitempty"`
	// Quality is "", "good", "suspect" or "out_of_range".
	Quality string `json:"quality,omitempty"`
	// Qualifier as in ReportTestResult: "above" or "below" the method's range.
	Qualifier string `json:"qualifier,omitempty"`
}

// quality is the sdk.Quality a reading's quality field names; ok is false for one the
// format does not have. A switch, not a map: the map's lookup was a fifth of toReading's
// CPU (BenchmarkIngestWebhook/direct, profiled).
func quality(s string) (q sdk.Quality, ok bool) {
	switch s {
	case "":
		return sdk.QualityUnknown, true
	case string(sdk.QualityGood):
		return sdk.QualityGood, true
	case string(sdk.QualitySuspect):
		return sdk.QualitySuspect, true
	case string(sdk.QualityOutOfRange):
		return sdk.QualityOutOfRange, true
	}
	return "", false
}

// webhookIDKey is signature.HeaderWebhookID as http.Header keys it, computed once:
// Header.Get would canonicalize (and allocate) it on every delivery.
var webhookIDKey = http.CanonicalHeaderKey(signature.HeaderWebhookID)

// Webhook parses a verified delivery. Anything that does not match the documented shape
// is permanent: the same bytes will never parse, so the host dead-letters them at once
// for an operator to look at instead of retrying.
func (a *Adapter) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	res := sdk.WebhookResult{}
	if ids := req.Headers[webhookIDKey]; len(ids) > 0 { // Get would canonicalize the key again
		res.DeliveryID = ids[0]
	}
	pooled := reportsPool.Get().(*[]Report)
	defer reportsPool.Put(pooled)
	reports, err := decodeReports(req.Body, pooled)
	if err != nil {
		return res, err
	}
	n := 0
	for _, rep := range reports {
		n += len(rep.Readings)
	}
	// Sized once: appending grew it 5 times for 10 readings.
	res.Readings = make([]sdk.Reading, 0, n)
	var times lastTime
	for i, rep := range reports {
		if strings.TrimSpace(rep.DeviceID) == "" {
			if len(reports) == 1 {
				if inner, ok, err := unwrapEvent(req.Body); ok {
					// A Standard Webhooks event: its report(s) in data, or nothing.
					if err != nil || len(inner) == 0 {
						return res, err
					}
					unwrapped := req
					unwrapped.Body = inner
					return a.Webhook(ctx, unwrapped)
				}
			}
			return res, sdk.Permanent("report %d: device_id is required", i)
		}
		for j, in := range rep.Readings {
			r, err := in.toReading(rep.DeviceID, &times)
			if err != nil {
				return res, sdk.Permanent("report %d reading %d: %v", i, j, err)
			}
			res.Readings = append(res.Readings, r)
		}
		for j, in := range rep.TestSessions {
			s, err := in.toTestSession(rep.DeviceID)
			if err != nil {
				return res, sdk.Permanent("report %d test session %d: %v", i, j, err)
			}
			res.TestSessions = append(res.TestSessions, s)
		}
	}
	return res, nil
}

// unwrapEvent reads a body in the payload structure Standard Webhooks recommends,
// {"type": "…", "timestamp": "…", "data": …}: ok says the body is such an event (an
// object with a type). Its data is the report or array of reports to parse (returned as
// inner); an event whose data holds no report — another type of event (a ping, a test
// event), or none at all — is nothing to store, not a malformed delivery: inner is nil.
// Only a body whose top level names no device gets here, so the documented report shape
// costs nothing.
func unwrapEvent(body []byte) (inner []byte, ok bool, err error) {
	var ev struct {
		Type     string          `json:"type"`
		Data     json.RawMessage `json:"data"`
		Readings json.RawMessage `json:"readings"`
		Sessions json.RawMessage `json:"test_sessions"`
	}
	if json.Unmarshal(body, &ev) != nil || strings.TrimSpace(ev.Type) == "" {
		return nil, false, nil
	}
	if hasItems(ev.Readings) || hasItems(ev.Sessions) {
		// Readings without a device: the report squashed into the event, missing its id.
		return nil, true, sdk.Permanent("event %q: device_id is required", ev.Type)
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || string(data) == "null" {
		return nil, true, nil
	}
	var probe struct {
		DeviceID string          `json:"device_id"`
		Readings json.RawMessage `json:"readings"`
		Sessions json.RawMessage `json:"test_sessions"`
	}
	switch data[0] {
	case '[':
		return data, true, nil
	case '{':
		if json.Unmarshal(data, &probe) == nil && probe.DeviceID == "" && !hasItems(probe.Readings) && !hasItems(probe.Sessions) {
			return nil, true, nil // an event about something else
		}
		return data, true, nil
	}
	return nil, true, nil
}

// hasItems says a raw JSON value is present and not null or an empty array.
func hasItems(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && string(v) != "null" && string(v) != "[]"
}

func (in ReportTestSession) toTestSession(deviceID string) (sdk.TestSession, error) {
	s := sdk.TestSession{ProviderDeviceID: deviceID, Method: strings.TrimSpace(in.Method), Notes: in.Notes}
	if in.TakenAt != "" {
		var err error
		if s.TakenAt, err = time.Parse(time.RFC3339Nano, in.TakenAt); err != nil {
			return sdk.TestSession{}, fmt.Errorf("taken_at %q is not RFC 3339", in.TakenAt)
		}
	}
	for k, r := range in.Results {
		name := strings.ToLower(strings.TrimSpace(r.Metric))
		if name == "" {
			return sdk.TestSession{}, fmt.Errorf("result %d: metric is required", k)
		}
		if r.Value == nil {
			return sdk.TestSession{}, fmt.Errorf("result %d: %s: value is required", k, name)
		}
		// Units, ranges and repeated metrics are the host's job, as for readings.
		s.Results = append(s.Results, sdk.TestResult{Metric: name, Value: *r.Value, Unit: strings.TrimSpace(r.Unit),
			Qualifier: sdk.Qualifier(strings.TrimSpace(r.Qualifier))})
	}
	return s, nil
}

// reportsPool holds *[]Report that decodeReports decodes into and Webhook gives back
// once it has copied what it needs: a report whose Readings slice kept its capacity is
// decoded without growing it reading by reading (with the result sized once, 10 of the
// generic plugin's allocations per 10-reading delivery, BenchmarkIngestWebhook).
var reportsPool = sync.Pool{New: func() any { return new([]Report) }}

// decodeReports accepts a single report object or an array of them, decoded into
// *into's storage (which keeps any capacity it grows).
func decodeReports(body []byte, into *[]Report) ([]Report, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, sdk.Permanent("empty body")
	}
	cleared(into)
	if decodeFast(body, into) {
		return *into, nil
	}
	reports := cleared(into) // from scratch: decodeFast may have filled some of it
	var err error
	if body[0] == '[' {
		err = json.Unmarshal(body, &reports)
	} else {
		if cap(reports) == 0 {
			reports = make([]Report, 0, 1)
		}
		reports = reports[:1]
		err = json.Unmarshal(body, &reports[0])
	}
	*into = reports
	if err != nil {
		return nil, sdk.Permanent("malformed payload: %v", err)
	}
	return reports, nil
}

// present tells a decoded value from a missing one (nil, or NaN: see decodeReports).
func present(v *float64) bool { return v != nil && !math.IsNaN(*v) }

// cleared empties *into for a new delivery, keeping its storage. encoding/json decodes
// only the fields a payload has into the elements a slice's capacity gives back: what an
// earlier delivery left in them is cleared. A reading's value keeps its pointer, which
// encoding/json (or decodeFast) then decodes into instead of allocating a float64 per
// reading (10 of the plugin's allocations per delivery, BenchmarkIngestWebhook); NaN,
// which no JSON number decodes to, stands for "absent" until a payload's value
// overwrites it (see present).
func cleared(into *[]Report) []Report {
	reports := (*into)[:cap(*into)]
	for i := range reports {
		rs := reports[i].Readings[:cap(reports[i].Readings)]
		for j := range rs {
			v := rs[j].Value
			if v != nil {
				*v = math.NaN()
			}
			rs[j] = ReportReading{Value: v}
		}
		reports[i] = Report{Readings: rs[:0]}
	}
	*into = reports[:0]
	return reports[:0]
}

// lastTime parses RFC 3339 times, keeping the last one: a delivery's readings usually
// share their time (host/bench's ten do), and parsing it once instead of ten times was
// about a tenth of Webhook's CPU (BenchmarkIngestWebhook/direct).
type lastTime struct {
	s string
	t time.Time
}

func (l *lastTime) parse(s string) (time.Time, error) {
	if s == l.s && s != "" {
		return l.t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		l.s, l.t = s, t
	}
	return t, err
}

func (in ReportReading) toReading(deviceID string, times *lastTime) (sdk.Reading, error) {
	name := strings.ToLower(strings.TrimSpace(in.Metric))
	if name == "" {
		return sdk.Reading{}, fmt.Errorf("metric is required")
	}
	if !present(in.Value) {
		return sdk.Reading{}, fmt.Errorf("%s: value is required", name)
	}
	q, ok := quality(in.Quality)
	if !ok {
		return sdk.Reading{}, fmt.Errorf("%s: unknown quality %q", name, in.Quality)
	}
	var at time.Time
	if in.RecordedAt != "" {
		var err error
		if at, err = times.parse(in.RecordedAt); err != nil {
			return sdk.Reading{}, fmt.Errorf("%s: recorded_at %q is not RFC 3339", name, in.RecordedAt)
		}
	}
	// Units and ranges are the host's job (sdk/metric): it converts every spelling it
	// knows and drops, counted by reason, what it cannot accept.
	return sdk.Reading{
		ProviderDeviceID: deviceID,
		Metric:           name,
		Value:            *in.Value,
		Unit:             strings.TrimSpace(in.Unit),
		RecordedAt:       at,
		Timed:            in.RecordedAt != "", // "0001-01-01T00:00:00Z" is a time, not "none"
		Quality:          q,
		Qualifier:        sdk.Qualifier(strings.TrimSpace(in.Qualifier)),
	}, nil
}
