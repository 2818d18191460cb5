package pluginmgr

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/sdk"
)

// The host does not trust what a plugin returns any more than what the internet sends:
// go-plugin would accept 2 GiB messages, and a plugin could hand back 100,000 readings
// or megabyte ids that the host would store verbatim. An answer over a cap in
// config.Plugins is refused as a permanent failure of that call (a webhook is
// dead-lettered with its raw request, a poll fails without moving its cursor), so
// nothing of it is stored and an operator sees why. Refusing the whole answer rather
// than trimming it keeps "what was stored" equal to "what the plugin said".

// checkAnswer returns the name of the first cap the answer exceeds and an error saying
// by how much, or "" and nil.
func checkAnswer(lim config.Plugins, deliveryID, accountID string, rs []sdk.Reading, ss []sdk.TestSession) (string, error) {
	if n := len(accountID); n > lim.MaxDeviceIDBytes {
		return "account_id", sdk.Permanent("plugin answer refused: provider account id of %d bytes exceeds plugins.max_device_id_bytes (%d)", n, lim.MaxDeviceIDBytes)
	}
	if n := len(deliveryID); n > lim.MaxDeliveryIDBytes {
		return "delivery_id", sdk.Permanent("plugin answer refused: delivery id of %d bytes exceeds plugins.max_delivery_id_bytes (%d)", n, lim.MaxDeliveryIDBytes)
	}
	if n := len(rs); n > lim.MaxReadingsPerCall {
		return "readings", sdk.Permanent("plugin answer refused: %d readings exceed plugins.max_readings_per_call (%d)", n, lim.MaxReadingsPerCall)
	}
	// A test session's results are measurements too: they share the readings' cap, and
	// each session counts one more for its own row.
	n := len(rs)
	for _, s := range ss {
		n += 1 + len(s.Results)
	}
	if n > lim.MaxReadingsPerCall {
		return "readings", sdk.Permanent("plugin answer refused: %d readings, test sessions and results exceed plugins.max_readings_per_call (%d)", n, lim.MaxReadingsPerCall)
	}
	for i, s := range ss {
		if len(s.ProviderDeviceID) > lim.MaxDeviceIDBytes {
			return "device_id", sdk.Permanent("plugin answer refused: test session %d has a device_id of %d bytes, over plugins.max_device_id_bytes (%d)", i, len(s.ProviderDeviceID), lim.MaxDeviceIDBytes)
		}
		if len(s.Notes) > maxTestNotesBytes {
			return "notes", sdk.Permanent("plugin answer refused: test session %d has notes of %d bytes, over %d", i, len(s.Notes), maxTestNotesBytes)
		}
		for j, r := range s.Results {
			if len(r.Metric) > lim.MaxMetricBytes {
				return "metric", sdk.Permanent("plugin answer refused: test session %d result %d has a metric of %d bytes, over plugins.max_metric_bytes (%d)", i, j, len(r.Metric), lim.MaxMetricBytes)
			}
			if len(r.Unit) > lim.MaxUnitBytes {
				return "unit", sdk.Permanent("plugin answer refused: test session %d result %d has a unit of %d bytes, over plugins.max_unit_bytes (%d)", i, j, len(r.Unit), lim.MaxUnitBytes)
			}
		}
	}
	for i, r := range rs {
		for _, f := range []struct {
			name, attr string
			n, max     int
		}{
			{"device_id", "max_device_id_bytes", len(r.ProviderDeviceID), lim.MaxDeviceIDBytes},
			{"metric", "max_metric_bytes", len(r.Metric), lim.MaxMetricBytes},
			{"unit", "max_unit_bytes", len(r.Unit), lim.MaxUnitBytes},
			{"raw_payload", "max_raw_payload_bytes", len(r.RawPayload), lim.MaxRawPayloadBytes},
		} {
			if f.n > f.max {
				return f.name, sdk.Permanent("plugin answer refused: reading %d has a %s of %d bytes, over plugins.%s (%d)", i, f.name, f.n, f.attr, f.max)
			}
		}
	}
	return "", nil
}

// maxTestNotesBytes caps a test session's notes, as members' are (pools.MaxNotesLength).
const maxTestNotesBytes = 2000

// refuseAnswer checks an answer, counting a refusal by the cap it broke.
func (p *Plugin) refuseAnswer(method, deliveryID, accountID string, rs []sdk.Reading, ss []sdk.TestSession) error {
	p.mu.Lock()
	lim := caps(p.pcfg)
	p.mu.Unlock()
	limit, err := checkAnswer(lim, deliveryID, accountID, rs, ss)
	if err != nil {
		p.m.metrics.refused.WithLabelValues(p.id, method, limit).Inc()
		p.m.log.Warn("plugin answer refused", "provider", p.id, "method", method, "limit", limit, "error", err)
	}
	return err
}

// maxMessage caps the messages the host accepts from the plugin. gRPC reports an
// oversized message as RESOURCE_EXHAUSTED, which the wire contract reads as temporary
// (a plugin may use it for a provider's quota); a message the host refused to read will
// be as large next time, so it becomes INVALID_ARGUMENT: permanent.
func (p *Plugin) maxMessage(max int64) []grpc.DialOption {
	max = caps(config.Plugins{MaxMessageBytes: max}).MaxMessageBytes
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(int(max))),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max") {
				p.m.metrics.refused.WithLabelValues(p.id, callName(method), "message").Inc()
				return status.Error(codes.InvalidArgument, fmt.Sprintf("plugin answer refused: larger than plugins.max_message_bytes (%d)", max))
			}
			return err
		}),
	}
}

// caps returns lim with every unset (zero) cap at its default, for configs built in code.
func caps(lim config.Plugins) config.Plugins {
	d := config.DefaultPlugins
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	if lim.MaxMessageBytes <= 0 {
		lim.MaxMessageBytes = d.MaxMessageBytes
	}
	set(&lim.MaxReadingsPerCall, d.MaxReadingsPerCall)
	set(&lim.MaxDeviceIDBytes, d.MaxDeviceIDBytes)
	set(&lim.MaxDeliveryIDBytes, d.MaxDeliveryIDBytes)
	set(&lim.MaxMetricBytes, d.MaxMetricBytes)
	set(&lim.MaxUnitBytes, d.MaxUnitBytes)
	set(&lim.MaxRawPayloadBytes, d.MaxRawPayloadBytes)
	return lim
}

// callName turns a gRPC method ("/pkg.Adapter/IngestWebhook") into the name the host's
// calls go by ("ingest_webhook"), so every metric labels a method the same way.
func callName(grpcMethod string) string {
	name := grpcMethod[strings.LastIndexByte(grpcMethod, '/')+1:]
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
