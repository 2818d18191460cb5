package wire

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// TestEncodeKnowsEveryField: encode.go and encode_batch.go write these messages field by
// field, and handled() and handledRequest() send to proto.Marshal only the fields they
// name. A field added to one of them in adapter.proto would be dropped from every message
// without an error, and TestEncodeEqualsProto would not see it (its messages set only the
// fields it knows), so this fails first: teach the encoder the field, or make handled()
// or handledRequest() refuse messages that carry it.
func TestEncodeKnowsEveryField(t *testing.T) {
	known := []struct {
		m      proto.Message
		fields []protoreflect.FieldNumber
	}{
		{&pb.IngestWebhookResponse{}, []protoreflect.FieldNumber{1, 2, 3}}, // result; webhook_error, status → proto.Marshal
		{&pb.WebhookResult{}, []protoreflect.FieldNumber{1, 2, 3, 4, 5}},   // test_sessions, command_updates → proto.Marshal
		{&pb.Reading{}, []protoreflect.FieldNumber{1, 2, 3, 4, 5, 6, 7, 8}},
		{&timestamppb.Timestamp{}, []protoreflect.FieldNumber{1, 2}},
		// encode_batch.go: the host's side.
		{&pb.IngestWebhookBatch{}, []protoreflect.FieldNumber{1}},
		{&pb.IngestWebhookRequest{}, []protoreflect.FieldNumber{1, 2}},
		{&pb.RawWebhook{}, []protoreflect.FieldNumber{1, 2, 3, 4, 5}}, // account → proto.Marshal
		{&pb.Header{}, []protoreflect.FieldNumber{1, 2}},
		// answers.go: a batch's answers together.
		{&pb.IngestWebhookBatchResponse{}, []protoreflect.FieldNumber{1}},
	}
	for _, k := range known {
		d := k.m.ProtoReflect().Descriptor()
		var got []protoreflect.FieldNumber
		for i := range d.Fields().Len() {
			got = append(got, d.Fields().Get(i).Number())
		}
		slices.Sort(got)
		if fmt.Sprint(got) != fmt.Sprint(k.fields) {
			t.Errorf("%s has fields %v; encode.go knows %v", d.FullName(), got, k.fields)
		}
	}
}
