package wire

import (
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// The decoders below follow adapter.proto field by field. Each returns false, for
// proto.Unmarshal to decode the message instead, on anything it does not handle; the
// fields it leaves to proto.Unmarshal on purpose (rare on the hot path) are listed in
// slowFields.

// slowFields are fields the fast decoders hand to proto.Unmarshal whenever present.
var slowFields = map[string]bool{
	"poolhost.adapter.v1.IngestWebhookResponse.webhook_error": true, // a parse failure
	"poolhost.adapter.v1.IngestWebhookResponse.status":        true, // a batch's failed delivery
	"poolhost.adapter.v1.WebhookResult.test_sessions":         true,
	"poolhost.adapter.v1.WebhookResult.command_updates":       true,
}

// ingestRequest is the plugin's decoder of IngestWebhookRequest
// { RawWebhook webhook = 1; int64 timeout_nanos = 2; }.
func (d *decoder) ingestRequest(m *pb.IngestWebhookRequest) bool {
	return d.ingestRequestIn(0, len(d.b), m)
}

// ingestRequestIn is ingestRequest for the message in b[start:end].
func (d *decoder) ingestRequestIn(start, end int, m *pb.IngestWebhookRequest) bool {
	for pos := start; pos < end; {
		f, after, ok := d.next(pos, end)
		if ok && f.num == 2 && f.typ == protowire.VarintType {
			m.TimeoutNanos = int64(f.v) // given twice, the last wins, as in proto.Unmarshal
			pos = after
			continue
		}
		if !ok || f.num != 1 || f.typ != protowire.BytesType || m.Webhook != nil {
			return false // a second webhook field would be merged into the first
		}
		var w *pb.RawWebhook
		var ts *timestamppb.Timestamp
		if d.slot != nil {
			w, ts = &d.slot.webhook, &d.slot.received
			*w, *ts = pb.RawWebhook{}, timestamppb.Timestamp{} // zeroed, as Release does
		} else {
			// The webhook and its timestamp in one allocation.
			blk := new(struct {
				w  pb.RawWebhook
				ts timestamppb.Timestamp
			})
			w, ts = &blk.w, &blk.ts
		}
		if !d.rawWebhook(f.start, f.end, w, ts) {
			return false
		}
		m.Webhook = w
		pos = after
	}
	return true
}

// rawWebhook decodes RawWebhook { repeated Header headers = 1; bytes body = 2;
// Timestamp received_at = 3; Account account = 4; string account_secret = 5; }, with
// the headers carved from one slice and their values from another.
func (d *decoder) rawWebhook(start, end int, w *pb.RawWebhook, ts *timestamppb.Timestamp) bool {
	headers, values := 0, 0
	for pos := start; pos < end; {
		f, after, ok := d.next(pos, end)
		if !ok {
			return false
		}
		if f.num == 1 && f.typ == protowire.BytesType {
			n, ok := d.count(f.start, f.end, 2)
			if !ok {
				return false
			}
			headers, values = headers+1, values+n
		}
		pos = after
	}
	msgs, vals := d.headerStorage(headers, values)
	if headers > 0 {
		if d.slot != nil {
			w.Headers = d.slot.ptrs[:0]
		} else {
			w.Headers = make([]*pb.Header, 0, headers)
		}
	}
	for pos := start; pos < end; {
		f, after, _ := d.next(pos, end) // read once above
		ok := false
		switch f.num {
		case 1:
			if f.typ != protowire.BytesType {
				break // not counted above
			}
			h := &msgs[len(w.Headers)]
			if ok = d.header(f, h, &vals); ok {
				w.Headers = append(w.Headers, h)
			}
		case 2:
			w.Body, ok = d.body(f)
		case 3:
			ok = w.ReceivedAt == nil && d.timestamp(f, ts)
			w.ReceivedAt = ts
		case 4:
			ok = w.Account == nil && f.typ == protowire.BytesType
			if ok {
				w.Account = new(pb.Account)
				ok = d.account(f.start, f.end, w.Account)
			}
		case 5:
			w.AccountSecret, ok = d.string(f)
		}
		if !ok {
			return false
		}
		pos = after
	}
	return true
}

// header decodes Header { string name = 1; repeated string values = 2; }, its values
// appended to *vals and capped there, so that appending to them copies instead of
// overwriting the next header's.
func (d *decoder) header(f field, h *pb.Header, vals *[]string) bool {
	if f.typ != protowire.BytesType {
		return false
	}
	first := len(*vals)
	for pos := f.start; pos < f.end; {
		g, after, ok := d.next(pos, f.end)
		if !ok {
			return false
		}
		s, ok := d.string(g)
		if !ok {
			return false
		}
		switch g.num {
		case 1:
			h.Name = s
		case 2:
			*vals = append(*vals, s)
		default:
			return false
		}
		pos = after
	}
	if n := len(*vals); n > first {
		h.Values = (*vals)[first:n:n]
	}
	return true
}

// headerStorage is room for a webhook's headers and their values: made, or in a batch
// the request's slot's headers, cleared, and what is left of the batch's slice of values.
// The values are what the adapter is given (sdk's http.Header holds these slices), so
// they are never reused: when the batch's slice runs out, a new one has room for as many
// values in every request left.
func (d *decoder) headerStorage(headers, values int) ([]pb.Header, []string) {
	if d.slot == nil {
		return make([]pb.Header, headers), make([]string, 0, values)
	}
	s := d.slot
	if cap(s.headers) < headers {
		s.headers = make([]pb.Header, headers)
		s.ptrs = make([]*pb.Header, 0, headers)
	}
	msgs := s.headers[:headers]
	clear(msgs) // zeroed, as Release does
	if cap(d.vals)-len(d.vals) < values {
		d.vals = make([]string, 0, values*d.left)
	}
	vals := d.vals[len(d.vals):len(d.vals)]
	d.vals = d.vals[:len(d.vals)+values]
	return msgs, vals
}

// account decodes Account { string id = 1; string external_account_id = 2;
// Credentials credentials = 3; } and Credentials { map<string, string> values = 1; }.
func (d *decoder) account(start, end int, a *pb.Account) bool {
	for pos := start; pos < end; {
		f, after, ok := d.next(pos, end)
		if !ok {
			return false
		}
		switch f.num {
		case 1:
			a.Id, ok = d.string(f)
		case 2:
			a.ExternalAccountId, ok = d.string(f)
		case 3:
			ok = a.Credentials == nil && f.typ == protowire.BytesType
			if ok {
				a.Credentials = new(pb.Credentials)
				ok = d.credentials(f.start, f.end, a.Credentials)
			}
		default:
			ok = false
		}
		if !ok {
			return false
		}
		pos = after
	}
	return true
}

func (d *decoder) credentials(start, end int, c *pb.Credentials) bool {
	n, ok := d.count(start, end, 1)
	if !ok {
		return false
	}
	if n > 0 {
		c.Values = make(map[string]string, n)
	}
	for pos := start; pos < end; {
		f, after, _ := d.next(pos, end)
		if f.num != 1 || f.typ != protowire.BytesType {
			return false
		}
		// A map entry { string key = 1; string value = 2; }; a later key wins.
		var k, v string
		for p := f.start; p < f.end; {
			g, next, ok := d.next(p, f.end)
			if !ok {
				return false
			}
			s, ok := d.string(g)
			if !ok {
				return false
			}
			switch g.num {
			case 1:
				k = s
			case 2:
				v = s
			default:
				return false
			}
			p = next
		}
		c.Values[k] = v
		pos = after
	}
	return true
}

// ingestResponse is the host's decoder of IngestWebhookResponse
// { WebhookResult result = 1; Error webhook_error = 2; }.
func (d *decoder) ingestResponse(m *pb.IngestWebhookResponse) bool {
	return d.ingestResponseIn(0, len(d.b), m)
}

// ingestResponseIn is ingestResponse for the message in b[start:end] (an answer of a
// batch's: answers.go).
func (d *decoder) ingestResponseIn(start, end int, m *pb.IngestWebhookResponse) bool {
	for pos := start; pos < end; {
		f, after, ok := d.next(pos, end)
		if !ok || f.num != 1 || f.typ != protowire.BytesType || m.Result != nil {
			return false // webhook_error, or a result to merge
		}
		if d.st != nil {
			d.st.result = pb.WebhookResult{} // zeroed: an answer decoded before may be unreleased
			m.Result = &d.st.result
		} else {
			m.Result = new(pb.WebhookResult)
		}
		if !d.webhookResult(f.start, f.end, m.Result) {
			return false
		}
		pos = after
	}
	return true
}

// webhookResult decodes WebhookResult { repeated Reading readings = 1;
// string delivery_id = 2; string provider_account_id = 3; ... }, the readings and their
// timestamps carved from one slice each.
func (d *decoder) webhookResult(start, end int, r *pb.WebhookResult) bool {
	n, ok := d.count(start, end, 1)
	if !ok {
		return false
	}
	msgs, times, ptrs := d.readingStorage(n)
	if n > 0 {
		r.Readings = ptrs
	}
	for pos := start; pos < end; {
		f, after, _ := d.next(pos, end) // read once by count
		switch f.num {
		case 1:
			i := len(r.Readings)
			if ok = d.reading(f, &msgs[i], &times[i]); ok {
				r.Readings = append(r.Readings, &msgs[i])
			}
		case 2:
			r.DeliveryId, ok = d.string(f)
		case 3:
			r.ProviderAccountId, ok = d.string(f)
		default:
			ok = false
		}
		if !ok {
			return false
		}
		pos = after
	}
	return true
}

// readingStorage is room for n readings: made, or st's cleared.
func (d *decoder) readingStorage(n int) ([]pb.Reading, []timestamppb.Timestamp, []*pb.Reading) {
	if d.st == nil {
		return make([]pb.Reading, n), make([]timestamppb.Timestamp, n), make([]*pb.Reading, 0, n)
	}
	st := d.st
	st.readings = slices.Grow(st.readings[:0], n)[:n]
	st.times = slices.Grow(st.times[:0], n)[:n]
	st.ptrs = slices.Grow(st.ptrs[:0], n)
	clear(st.readings)
	clear(st.times)
	return st.readings, st.times, st.ptrs
}

// reading decodes Reading { string provider_device_id = 1; string metric = 2;
// double value = 3; string unit = 4; Timestamp recorded_at = 5; string quality = 6;
// bytes raw_payload = 7; string qualifier = 8; }.
func (d *decoder) reading(f field, r *pb.Reading, ts *timestamppb.Timestamp) bool {
	if f.typ != protowire.BytesType {
		return false
	}
	for pos := f.start; pos < f.end; {
		g, after, ok := d.next(pos, f.end)
		if !ok {
			return false
		}
		switch g.num {
		case 1:
			r.ProviderDeviceId, ok = d.string(g)
		case 2:
			r.Metric, ok = d.string(g)
		case 3:
			ok = g.typ == protowire.Fixed64Type
			r.Value = math.Float64frombits(g.v)
		case 4:
			r.Unit, ok = d.string(g)
		case 5:
			ok = r.RecordedAt == nil && d.timestamp(g, ts)
			r.RecordedAt = ts
		case 6:
			r.Quality, ok = d.string(g)
		case 7:
			r.RawPayload, ok = d.bytes(g)
		case 8:
			r.Qualifier, ok = d.string(g)
		default:
			ok = false
		}
		if !ok {
			return false
		}
		pos = after
	}
	return true
}
