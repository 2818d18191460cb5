package sdk

import (
	"errors"
	"slices"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/convert"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Conversions of what a plugin returns, from SDK types to wire types.

func descriptionToProto(d Description) *pb.DescribeResponse {
	var minPoll *durationpb.Duration
	if d.Capabilities.MinPollInterval != 0 {
		minPoll = durationpb.New(d.Capabilities.MinPollInterval)
	}
	return &pb.DescribeResponse{
		Id:              d.ID,
		Version:         d.Version,
		ProtocolVersion: int32(d.ProtocolVersion),
		Capabilities: &pb.Capabilities{
			Connect:          string(d.Capabilities.Connect),
			Webhook:          d.Capabilities.Webhook,
			Poll:             d.Capabilities.Poll,
			MinPollInterval:  minPoll,
			Write:            d.Capabilities.Write,
			SignatureHeaders: d.Capabilities.SignatureHeaders,
			Commands:         d.Capabilities.Commands,
		},
		RequiredSettings: d.RequiredSettings,
		RequiredSecrets:  d.RequiredSecrets,
		Settings:         optionsToProto(d.Settings),
		ConnectInputs:    optionsToProto(d.ConnectInputs),
	}
}

func optionsToProto(opts []Option) []*pb.Option {
	out := make([]*pb.Option, 0, len(opts))
	for _, o := range opts {
		out = append(out, &pb.Option{Key: o.Key, Type: string(o.Type), DefaultValue: o.Default,
			Help: o.Help, Secret: o.Secret, Required: o.Required})
	}
	return out
}

func linkagePtrToProto(l *Linkage) *pb.Linkage {
	if l == nil {
		return nil
	}
	return linkageToProto(*l)
}

func linkageToProto(l Linkage) *pb.Linkage {
	return &pb.Linkage{
		ExternalAccountId: l.ExternalAccountID,
		DisplayName:       l.DisplayName,
		Credentials:       convert.CredentialsToProto(l.Credentials),

		AlternateAccountIds: l.AlternateAccountIDs,
	}
}

func devicesToProto(ds []Device) []*pb.Device {
	if len(ds) == 0 {
		return nil
	}
	out := make([]*pb.Device, len(ds))
	for i, d := range ds {
		out[i] = &pb.Device{
			ProviderDeviceId: d.ProviderDeviceID,
			Name:             d.Name,
			Model:            d.Model,
			Metadata:         d.Metadata,
			Verified:         d.Verified,
			Suggestion:       suggestionToProto(d.Suggested),
		}
	}
	return out
}

func discoverResultToProto(res DiscoverResult) *pb.DiscoverDevicesResponse {
	return &pb.DiscoverDevicesResponse{
		Devices:              devicesToProto(res.Devices),
		RefreshedCredentials: convert.CredentialsToProto(res.RefreshedCredentials),
	}
}

func pollResultToProto(res PollResult) *pb.PollReadingsResponse {
	return &pb.PollReadingsResponse{
		Readings:             readingsToProto(res.Readings),
		NextCursor:           res.NextCursor,
		RefreshedCredentials: convert.CredentialsToProto(res.RefreshedCredentials),
		NotBefore:            convert.TimeToProto(res.NotBefore),
		TestSessions:         testSessionsToProto(res.TestSessions),
		CommandUpdates:       commandUpdatesToProto(res.CommandUpdates),
	}
}

func suggestionToProto(s *PoolSuggestion) *pb.PoolSuggestion {
	if s == nil {
		return nil
	}
	return &pb.PoolSuggestion{VolumeLiters: s.VolumeLiters, Kind: s.Kind, Location: s.Location, Sanitizer: s.Sanitizer}
}

func webhookResultToProto(r WebhookResult) *pb.WebhookResult {
	out := new(pb.WebhookResult)
	var rs readingStore
	fillWebhookResult(out, &rs, r)
	return out
}

// fillWebhookResult writes r into out, its readings in rs's storage: the one mapping
// of a WebhookResult, for a new message and for a stream's reused one (answerStore).
func fillWebhookResult(out *pb.WebhookResult, rs *readingStore, r WebhookResult) {
	out.Readings = rs.fill(r.Readings)
	out.DeliveryId, out.ProviderAccountId = r.DeliveryID, r.ProviderAccountID
	out.TestSessions, out.CommandUpdates = testSessionsToProto(r.TestSessions), commandUpdatesToProto(r.CommandUpdates)
}

func commandUpdatesToProto(us []CommandUpdate) []*pb.CommandUpdate {
	if len(us) == 0 {
		return nil
	}
	out := make([]*pb.CommandUpdate, len(us))
	for i, u := range us {
		out[i] = &pb.CommandUpdate{CommandId: u.CommandID, ProviderReference: u.ProviderRef, Status: string(u.Status), Reason: u.Reason}
	}
	return out
}

func testSessionsToProto(ss []TestSession) []*pb.TestSession {
	if len(ss) == 0 {
		return nil
	}
	out := make([]*pb.TestSession, len(ss))
	for i, s := range ss {
		rs := make([]*pb.TestResult, len(s.Results))
		for j, r := range s.Results {
			rs[j] = &pb.TestResult{Metric: r.Metric, Value: r.Value, Unit: r.Unit, Qualifier: string(r.Qualifier)}
		}
		out[i] = &pb.TestSession{
			ProviderDeviceId: s.ProviderDeviceID, TakenAt: convert.TimeToProto(s.TakenAt),
			Method: s.Method, Notes: s.Notes, Results: rs,
		}
	}
	return out
}

func readingsToProto(rs []Reading) []*pb.Reading {
	if len(rs) == 0 {
		return nil
	}
	// The messages and their timestamps are carved from two slices instead of being
	// allocated one by one: 2 allocations per delivery instead of 2 per reading, 18 of
	// the generic plugin's allocations per 10-reading delivery (host/bench). They are
	// marshalled and dropped together, so none keeps the others alive for long.
	var st readingStore
	return st.fill(rs)
}

// readingStore is the storage of a message's readings, kept by an IngestWebhooks stream
// from one answer to the next (answerStore).
type readingStore struct {
	ptrs  []*pb.Reading
	msgs  []pb.Reading
	times []timestamppb.Timestamp
}

// fill makes rs wire readings in st's storage, grown as needed; they are valid until
// the next fill.
func (st *readingStore) fill(rs []Reading) []*pb.Reading {
	if len(rs) == 0 {
		return nil
	}
	st.ptrs = slices.Grow(st.ptrs[:0], len(rs))[:len(rs)]
	st.msgs = slices.Grow(st.msgs[:0], len(rs))[:len(rs)]
	st.times = slices.Grow(st.times[:0], len(rs))[:len(rs)]
	for i, r := range rs {
		m := &st.msgs[i]
		m.ProviderDeviceId = r.ProviderDeviceID
		m.Metric = r.Metric
		m.Value = r.Value
		m.Unit = r.Unit
		m.Quality = string(r.Quality)
		m.RawPayload = r.RawPayload
		m.Qualifier = string(r.Qualifier)
		m.RecordedAt = nil
		// An explicit zero time (Timed) stays on the wire: the timestamp's presence,
		// not its value, says whether the reading has a time.
		if r.HasTime() {
			ts := &st.times[i]
			ts.Seconds, ts.Nanos = r.RecordedAt.Unix(), int32(r.RecordedAt.Nanosecond())
			m.RecordedAt = ts
		}
		st.ptrs[i] = m
	}
	return st.ptrs
}

// release drops what st's readings hold (the adapter's strings and raw payloads), keeping
// the storage.
func (st *readingStore) release() {
	clear(st.ptrs[:cap(st.ptrs)])
	for i := range st.msgs {
		m := &st.msgs[i]
		m.ProviderDeviceId, m.Metric, m.Unit, m.Quality, m.Qualifier, m.RawPayload, m.RecordedAt = "", "", "", "", "", nil, nil
	}
}

var kindToProto = map[ErrorKind]pb.ErrorKind{
	KindTemporary:    pb.ErrorKind_ERROR_KIND_TEMPORARY,
	KindPermanent:    pb.ErrorKind_ERROR_KIND_PERMANENT,
	KindReauth:       pb.ErrorKind_ERROR_KIND_REAUTH,
	KindUnsupported:  pb.ErrorKind_ERROR_KIND_UNSUPPORTED,
	KindRejected:     pb.ErrorKind_ERROR_KIND_REJECTED,
	KindInvalidInput: pb.ErrorKind_ERROR_KIND_INVALID_INPUT,
}

// errorToProto is for the one error that travels inside a response
// (IngestWebhookResponse.webhook_error); unknown kinds go as unspecified (temporary).
func errorToProto(err error) *pb.Error {
	kind := KindOf(err)
	msg := err.Error()
	var e *Error
	reason := ""
	if errors.As(err, &e) {
		msg, reason = errorMessage(err, e), e.Reason
	}
	return &pb.Error{Kind: kindToProto[kind], Message: msg, Reason: reason}
}
