package wire

import (
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// statusAnswer is a failed delivery's answer in a batch: a bad signature's status.
func statusAnswer(t testing.TB) *pb.IngestWebhookResponse {
	detail, err := anypb.New(&pb.ErrorDetail{Reason: "bad_signature"})
	if err != nil {
		t.Fatal(err)
	}
	return &pb.IngestWebhookResponse{Status: &pb.Status{Code: 7, Message: "signature does not match", Details: []*anypb.Any{detail}}}
}

// TestEncodeAnswersEqualsProto: a batch's answers, hand-encoded together (the ones
// proto.Marshal must write among them), are what proto.Marshal writes of the
// IngestWebhookBatchResponse, or refused as it refuses them; an Answers reused for
// batches bigger and smaller writes the same.
func TestEncodeAnswersEqualsProto(t *testing.T) {
	var reused Answers
	for _, c := range encodeCases() {
		if unknownIn(c.m) {
			continue // the SDK's answers are its own: never decoded, no unknown fields
		}
		t.Run(c.name, func(t *testing.T) {
			for _, answers := range [][]*pb.IngestWebhookResponse{
				{c.m},
				{fullResponse(), c.m, statusAnswer(t), {}, c.m},
				{statusAnswer(t), c.m},
				{},
			} {
				a := &Answers{}
				a.Answers = answers
				checkEncoding(t, a)
				reused.Reset()
				reused.Answers = append(reused.Answers, answers...)
				checkEncoding(t, &reused)
			}
		})
	}
}

// TestBatchAnswersEqualsProto: each answer of a batch's message is decoded into its
// delivery's storage as proto.Unmarshal decodes the message's answers, whatever the
// answer beside it, or the message fails as proto.Unmarshal fails it.
func TestBatchAnswersEqualsProto(t *testing.T) {
	var into [3]IngestResponse
	for _, c := range cases(t) {
		if isRequest(c.msg()) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			full, err := proto.Marshal(fullResponse())
			if err != nil {
				t.Fatal(err)
			}
			var b []byte
			for _, answer := range [][]byte{full, c.b, full} {
				b = protowire.AppendTag(b, 1, protowire.BytesType)
				b = protowire.AppendBytes(b, answer)
			}
			want := new(pb.IngestWebhookBatchResponse)
			wantErr := proto.Unmarshal(b, want)
			got := &BatchAnswers{Into: []*IngestResponse{&into[0], &into[1], &into[2]}}
			gotErr := Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("error %v, proto.Unmarshal's %v", gotErr, wantErr)
			}
			if gotErr != nil {
				return
			}
			if got.N != 3 {
				t.Fatalf("%d answers, want 3", got.N)
			}
			for i := range into {
				if !proto.Equal(&into[i].IngestWebhookResponse, want.Answers[i]) {
					t.Errorf("answer %d decoded\n%v\nproto.Unmarshal\n%v", i, &into[i].IngestWebhookResponse, want.Answers[i])
				}
			}
			for i := range into {
				into[i].Release()
			}
		})
	}
}

// TestBatchAnswersCounted: a message with more answers than the batch had deliveries
// decodes those it has room for and counts the rest; one with fewer says so; an unknown
// field beside the answers (a newer plugin's) is skipped; a message that is not one
// fails.
func TestBatchAnswersCounted(t *testing.T) {
	answers := func(n int) []byte {
		m := &pb.IngestWebhookBatchResponse{}
		for range n {
			m.Answers = append(m.Answers, fullResponse())
		}
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	unknown := protowire.AppendString(protowire.AppendTag(answers(2), 9, protowire.BytesType), "newer")
	for _, c := range []struct {
		name    string
		b       []byte
		n       int
		wantErr bool
	}{
		{"two", answers(2), 2, false},
		{"three", answers(3), 3, false},
		{"one", answers(1), 1, false},
		{"none", nil, 0, false},
		{"an unknown field", unknown, 2, false},
		{"an answer of the wrong wire type", []byte{1<<3 | byte(protowire.VarintType), 1}, 0, true},
		{"truncated", answers(2)[:10], 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var into [2]IngestResponse
			got := &BatchAnswers{Into: []*IngestResponse{&into[0], &into[1]}}
			err := Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(c.b)}, got)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want an error: %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			if got.N != c.n {
				t.Fatalf("%d answers counted, want %d", got.N, c.n)
			}
			for i := range min(c.n, 2) {
				if !proto.Equal(&into[i].IngestWebhookResponse, fullResponse()) {
					t.Errorf("answer %d: %v", i, &into[i].IngestWebhookResponse)
				}
			}
		})
	}
}

// TestBatchAnswersIndependent: the answers' strings are the decoder's copy (gRPC reuses
// its buffer).
func TestBatchAnswersIndependent(t *testing.T) {
	b, err := proto.Marshal(&pb.IngestWebhookBatchResponse{Answers: []*pb.IngestWebhookResponse{fullResponse()}})
	if err != nil {
		t.Fatal(err)
	}
	var into IngestResponse
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &BatchAnswers{Into: []*IngestResponse{&into}}); err != nil {
		t.Fatal(err)
	}
	clear(b)
	if !proto.Equal(&into.IngestWebhookResponse, fullResponse()) {
		t.Fatalf("decoded answer changed with the buffer: %v", &into.IngestWebhookResponse)
	}
}

// TestAnswersAllocations: a batch's answers are written into one pooled buffer, and
// decoded with one copy of the message and the answers' own few allocations (the
// raw payload's), the rest kept from batch to batch.
func TestAnswersAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector sync.Pool drops items at random, so the pool allocates")
	}
	a := &Answers{}
	for range 10 {
		a.Answers = append(a.Answers, fullResponse())
	}
	n := testing.AllocsPerRun(100, func() {
		data, err := Codec{}.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		data.Free()
	})
	if n > 1 {
		t.Errorf("encoding 10 answers: %.0f allocations, want at most 1 (the BufferSlice)", n)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var into [10]IngestResponse
	got := &BatchAnswers{}
	for i := range into {
		got.Into = append(got.Into, &into[i])
	}
	data := mem.BufferSlice{mem.SliceBuffer(b)}
	n = testing.AllocsPerRun(100, func() {
		if err := (Codec{}).Unmarshal(data, got); err != nil || got.N != 10 {
			t.Fatal(got.N, err)
		}
		for i := range into {
			into[i].Release()
		}
	})
	// The message's copy, and each answer's one raw payload.
	if n > 11 {
		t.Errorf("decoding 10 answers: %.0f allocations, want at most 11", n)
	}
}
