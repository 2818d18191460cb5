package ttn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

// upMessage is the part of The Things Stack's ApplicationUp message the adapter reads.
// Empty fields are omitted by the stack, hence the pointers and zero checks.
type upMessage struct {
	EndDeviceIDs struct {
		DeviceID       string `json:"device_id"`
		DevEUI         string `json:"dev_eui"`
		ApplicationIDs struct {
			ApplicationID string `json:"application_id"`
		} `json:"application_ids"`
	} `json:"end_device_ids"`
	CorrelationIDs []string       `json:"correlation_ids"`
	ReceivedAt     string         `json:"received_at"`
	Simulated      bool           `json:"simulated"`
	UplinkMessage  *uplinkMessage `json:"uplink_message"`
}

type uplinkMessage struct {
	DecodedPayload json.RawMessage `json:"decoded_payload"`
	RxMetadata     []struct {
		RSSI        *float64 `json:"rssi"`
		ChannelRSSI *float64 `json:"channel_rssi"`
	} `json:"rx_metadata"`
	ReceivedAt string `json:"received_at"`
}

// Webhook parses a verified delivery into readings.
func (a *Adapter) Webhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	cfg := a.config()
	var msg upMessage
	if err := json.Unmarshal(req.Body, &msg); err != nil {
		return sdk.WebhookResult{}, sdk.Permanent("malformed the things stack message: %v", err)
	}
	up := msg.UplinkMessage
	if up == nil {
		// join, location…: nothing measured; downlink_* messages advance commands.
		return sdk.WebhookResult{
			DeliveryID:     otherDeliveryID(msg.CorrelationIDs, req.Body),
			CommandUpdates: commandUpdates(req.Body),
		}, nil
	}
	res := sdk.WebhookResult{DeliveryID: uplinkID(msg.CorrelationIDs)}
	if msg.Simulated && !cfg.keepSimulated {
		return res, nil
	}
	device := msg.EndDeviceIDs.DeviceID
	if cfg.useDevEUI {
		device = msg.EndDeviceIDs.DevEUI
	}
	if device == "" {
		return res, sdk.Permanent("uplink without end device id")
	}
	at, timed, err := receivedAt(up.ReceivedAt, msg.ReceivedAt)
	if err != nil {
		return res, err
	}
	quality := sdk.QualityUnknown
	if msg.Simulated {
		quality = sdk.QualitySuspect
	}

	var payload map[string]any
	if len(up.DecodedPayload) > 0 && string(up.DecodedPayload) != "null" {
		if err := json.Unmarshal(up.DecodedPayload, &payload); err != nil {
			// A formatter may emit a non-object; nothing in it has a name to map.
			payload = nil
		}
	}
	fields := cfg.fields
	if app, ok := cfg.appFields[msg.EndDeviceIDs.ApplicationIDs.ApplicationID]; ok {
		fields = app
	}
	// Sorted keys keep the output deterministic (maps iterate randomly).
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		f := fields[key]
		if f.metric == "" {
			continue
		}
		v, ok := lookup(payload, key)
		if !ok {
			continue
		}
		n, ok := number(v)
		if !ok {
			continue
		}
		res.Readings = append(res.Readings, sdk.Reading{
			ProviderDeviceID: device,
			Metric:           f.metric,
			Value:            n,
			Unit:             f.unit,
			RecordedAt:       at,
			Timed:            timed,
			Quality:          quality,
			RawPayload:       up.DecodedPayload,
		})
	}
	if cfg.rssi {
		if rssi, ok := bestRSSI(up); ok {
			res.Readings = append(res.Readings, sdk.Reading{
				ProviderDeviceID: device, Metric: metric.SignalDBm, Value: rssi, Unit: metric.UnitDBm,
				RecordedAt: at, Timed: timed, Quality: quality,
			})
		}
	}
	return res, nil
}

// number reads a decoded value as a measurement: a JSON number, or a string holding a
// decimal number. Many payload formatters emit strings: the Device Repository's codecs
// (Dragino's TempC_DS18B20, for one) round with JavaScript's toFixed, which returns
// one. Other strings ("Invalid Reading", "No Sensor"), booleans and objects are not
// measurements.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		s := strings.TrimSpace(x)
		if s == "" || strings.IndexFunc(s, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r == '.' || r == '-' || r == '+' || r == 'e' || r == 'E')
		}) >= 0 {
			return 0, false // no hex, inf, nan or digit separators
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// uplinkID picks the application server's uplink correlation id: unique per uplink
// and the same when the stack retries the delivery.
func uplinkID(ids []string) string {
	for _, id := range ids {
		if strings.HasPrefix(id, "as:up:") {
			return id
		}
	}
	return ""
}

// messageTypes are the fields that say what an application-layer message is, besides
// uplink_message (The Things Stack's ApplicationUp).
var messageTypes = []string{
	"uplink_normalized", "location_solved", "join_accept", "downlink_queued", "downlink_sent",
	"downlink_ack", "downlink_nack", "downlink_failed", "downlink_queue_invalidated", "service_data",
}

// otherDeliveryID names a message that is not an uplink: by its type, its "as:up:"
// correlation id and a hash of its body (the same when the stack retries it). Never by
// the bare id: the stack publishes a location solved from the payload and one normalized
// uplink per measurement with the very correlation ids of the uplink they derive from,
// and before it, so the uplink, named alike, would be taken for a replay of them and its
// readings dropped. The hash tells those derived messages from one another.
func otherDeliveryID(ids []string, body []byte) string {
	up := uplinkID(ids)
	if up == "" {
		return ""
	}
	kind := "message"
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) == nil {
		for _, k := range messageTypes {
			if _, ok := fields[k]; ok {
				kind = k
				break
			}
		}
	}
	sum := sha256.Sum256(body)
	return kind + ":" + up + ":" + hex.EncodeToString(sum[:8])
}

// receivedAt prefers the uplink's network receive time, then the message's.
// receivedAt is the first time given; timed is false when none was (the host then uses
// its own receive time).
func receivedAt(candidates ...string) (at time.Time, timed bool, err error) {
	for _, s := range candidates {
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, false, sdk.Permanent("received_at %q is not RFC 3339", s)
		}
		return t, true, nil
	}
	return time.Time{}, false, nil
}

// bestRSSI is the strongest signal any gateway heard the uplink with.
func bestRSSI(up *uplinkMessage) (float64, bool) {
	best, found := 0.0, false
	for _, md := range up.RxMetadata {
		v := md.RSSI
		if v == nil {
			v = md.ChannelRSSI
		}
		if v != nil && (!found || *v > best) {
			best, found = *v, true
		}
	}
	return best, found
}
