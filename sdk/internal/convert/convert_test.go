package convert

import (
	"testing"
	"time"
)

func TestUnsetIsKeptApart(t *testing.T) {
	if got := TimeFromProto(TimeToProto(time.Time{})); !got.IsZero() {
		t.Errorf("zero time came back as %v", got)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 5, time.UTC)
	if got := TimeFromProto(TimeToProto(now)); !got.Equal(now) {
		t.Errorf("time came back as %v, want %v", got, now)
	}
	if TimeToProto(time.Time{}) != nil {
		t.Error("zero time sent as a timestamp")
	}
	if CredentialsToProto(nil) != nil || CredentialsFromProto(nil) != nil {
		t.Error("unset credentials became set")
	}
	if got := CredentialsFromProto(CredentialsToProto(map[string]string{})); got == nil || len(got) != 0 {
		t.Errorf("empty credentials came back as %#v, want set and empty", got)
	}
	if got := CredentialsFromProto(CredentialsToProto(map[string]string{"k": "v"})); got["k"] != "v" {
		t.Errorf("credentials came back as %v", got)
	}
}
