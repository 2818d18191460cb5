package grpcplugin

import (
	"github.com/poolhost/poolhost/sdk"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/convert"
)

// Conversions of what a plugin returns, from wire types to SDK types.

func descriptionFromProto(d *pb.DescribeResponse) sdk.Description {
	c := d.GetCapabilities()
	return sdk.Description{
		ID:              d.GetId(),
		Version:         d.GetVersion(),
		ProtocolVersion: int(d.GetProtocolVersion()),
		Capabilities: sdk.Capabilities{
			Connect:          sdk.ConnectKind(c.GetConnect()),
			Webhook:          c.GetWebhook(),
			Poll:             c.GetPoll(),
			MinPollInterval:  c.GetMinPollInterval().AsDuration(),
			Write:            c.GetWrite(),
			Commands:         c.GetCommands(),
			SignatureHeaders: c.GetSignatureHeaders(),
		},
		RequiredSettings: d.GetRequiredSettings(),
		RequiredSecrets:  d.GetRequiredSecrets(),
		Settings:         optionsFromProto(d.GetSettings()),
		ConnectInputs:    optionsFromProto(d.GetConnectInputs()),
	}
}

func optionsFromProto(opts []*pb.Option) []sdk.Option {
	if len(opts) == 0 {
		return nil
	}
	out := make([]sdk.Option, 0, len(opts))
	for _, o := range opts {
		out = append(out, sdk.Option{Key: o.GetKey(), Type: sdk.OptionType(o.GetType()), Default: o.GetDefaultValue(),
			Help: o.GetHelp(), Secret: o.GetSecret(), Required: o.GetRequired()})
	}
	return out
}

func linkageFromProto(l *pb.Linkage) sdk.Linkage {
	return sdk.Linkage{
		ExternalAccountID: l.GetExternalAccountId(),
		DisplayName:       l.GetDisplayName(),
		Credentials:       sdk.Credentials(convert.CredentialsFromProto(l.GetCredentials())),

		AlternateAccountIDs: l.GetAlternateAccountIds(),
	}
}

func devicesFromProto(ds []*pb.Device) []sdk.Device {
	if len(ds) == 0 {
		return nil
	}
	out := make([]sdk.Device, len(ds))
	for i, d := range ds {
		out[i] = sdk.Device{
			ProviderDeviceID: d.GetProviderDeviceId(),
			Name:             d.GetName(),
			Model:            d.GetModel(),
			Metadata:         d.GetMetadata(),
			Verified:         d.GetVerified(),
			Suggested:        suggestionFromProto(d.GetSuggestion()),
		}
	}
	return out
}

func discoverResultFromProto(res *pb.DiscoverDevicesResponse) sdk.DiscoverResult {
	return sdk.DiscoverResult{
		Devices:              devicesFromProto(res.GetDevices()),
		RefreshedCredentials: sdk.Credentials(convert.CredentialsFromProto(res.GetRefreshedCredentials())),
	}
}

func pollResultFromProto(res *pb.PollReadingsResponse) sdk.PollResult {
	return sdk.PollResult{
		Readings:             readingsFromProto(res.GetReadings()),
		NextCursor:           res.GetNextCursor(),
		RefreshedCredentials: sdk.Credentials(convert.CredentialsFromProto(res.GetRefreshedCredentials())),
		NotBefore:            convert.TimeFromProto(res.GetNotBefore()),
		TestSessions:         testSessionsFromProto(res.GetTestSessions()),
		CommandUpdates:       commandUpdatesFromProto(res.GetCommandUpdates()),
	}
}

func suggestionFromProto(s *pb.PoolSuggestion) *sdk.PoolSuggestion {
	if s == nil {
		return nil
	}
	return &sdk.PoolSuggestion{VolumeLiters: s.GetVolumeLiters(), Kind: s.GetKind(), Location: s.GetLocation(), Sanitizer: s.GetSanitizer()}
}

func webhookResultFromProto(r *pb.WebhookResult) sdk.WebhookResult {
	return sdk.WebhookResult{
		Readings: readingsFromProto(r.GetReadings()), DeliveryID: r.GetDeliveryId(), ProviderAccountID: r.GetProviderAccountId(),
		TestSessions: testSessionsFromProto(r.GetTestSessions()), CommandUpdates: commandUpdatesFromProto(r.GetCommandUpdates()),
	}
}

func commandUpdatesFromProto(us []*pb.CommandUpdate) []sdk.CommandUpdate {
	if len(us) == 0 {
		return nil
	}
	out := make([]sdk.CommandUpdate, len(us))
	for i, u := range us {
		out[i] = sdk.CommandUpdate{CommandID: u.GetCommandId(), ProviderRef: u.GetProviderReference(),
			Status: sdk.CommandStatus(u.GetStatus()), Reason: u.GetReason()}
	}
	return out
}

func testSessionsFromProto(ss []*pb.TestSession) []sdk.TestSession {
	if len(ss) == 0 {
		return nil
	}
	out := make([]sdk.TestSession, len(ss))
	for i, s := range ss {
		rs := make([]sdk.TestResult, len(s.GetResults()))
		for j, r := range s.GetResults() {
			rs[j] = sdk.TestResult{Metric: r.GetMetric(), Value: r.GetValue(), Unit: r.GetUnit(), Qualifier: sdk.Qualifier(r.GetQualifier())}
		}
		out[i] = sdk.TestSession{
			ProviderDeviceID: s.GetProviderDeviceId(), TakenAt: convert.TimeFromProto(s.GetTakenAt()),
			Method: s.GetMethod(), Notes: s.GetNotes(), Results: rs,
		}
	}
	return out
}

func readingsFromProto(rs []*pb.Reading) []sdk.Reading {
	if len(rs) == 0 {
		return nil
	}
	out := make([]sdk.Reading, len(rs))
	for i, r := range rs {
		out[i] = sdk.Reading{
			ProviderDeviceID: r.GetProviderDeviceId(),
			Metric:           r.GetMetric(),
			Value:            r.GetValue(),
			Unit:             r.GetUnit(),
			RecordedAt:       convert.TimeFromProto(r.GetRecordedAt()),
			Timed:            r.GetRecordedAt() != nil,
			Quality:          sdk.Quality(r.GetQuality()),
			RawPayload:       r.GetRawPayload(),
			Qualifier:        sdk.Qualifier(r.GetQualifier()),
		}
	}
	return out
}
