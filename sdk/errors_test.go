package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/poolhost/poolhost/sdk"
)

func TestWithRefreshedCredentials(t *testing.T) {
	fresh := sdk.Credentials{"access_token": "at-2", "refresh_token": "rt-2"}

	t.Run("nil error stays nil", func(t *testing.T) {
		if err := sdk.WithRefreshedCredentials(nil, fresh); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
	t.Run("nil credentials leave the error alone", func(t *testing.T) {
		base := sdk.Temporary("503")
		if err := sdk.WithRefreshedCredentials(base, nil); err != base {
			t.Fatalf("got %v, want the same error", err)
		}
		if _, ok := sdk.RefreshedCredentialsOf(base); ok {
			t.Fatal("credentials found on a bare error")
		}
	})
	tests := []struct {
		name string
		base error
		kind sdk.ErrorKind
	}{
		{"temporary", sdk.Temporary("upstream 503"), sdk.KindTemporary},
		{"reauth", sdk.Reauth("revoked"), sdk.KindReauth},
		{"wrapped permanent", fmt.Errorf("parse: %w", sdk.Permanent("garbage")), sdk.KindPermanent},
		{"context", fmt.Errorf("get pools: %w", context.DeadlineExceeded), sdk.KindTemporary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sdk.WithRefreshedCredentials(tt.base, fresh)
			if err.Error() != tt.base.Error() {
				t.Errorf("text %q, want %q (unchanged, never the credentials)", err.Error(), tt.base.Error())
			}
			if sdk.KindOf(err) != tt.kind || sdk.KindOf(fmt.Errorf("x: %w", err)) != tt.kind {
				t.Errorf("kind %v, want %v", sdk.KindOf(err), tt.kind)
			}
			if !errors.Is(err, tt.base) {
				t.Error("errors.Is lost the original error")
			}
			got, ok := sdk.RefreshedCredentialsOf(fmt.Errorf("poll: %w", err))
			if !ok || !reflect.DeepEqual(got, fresh) {
				t.Errorf("RefreshedCredentialsOf = %v, %v", got, ok)
			}
		})
	}
}

func TestWithNextCursor(t *testing.T) {
	if err := sdk.WithNextCursor(nil, "c"); err != nil {
		t.Fatalf("nil error: got %v", err)
	}
	base := sdk.Reauth("revoked")
	if _, ok := sdk.NextCursorOf(base); ok {
		t.Fatal("cursor found on a bare error")
	}
	err := fmt.Errorf("poll: %w", sdk.WithNextCursor(base, ""))
	if c, ok := sdk.NextCursorOf(err); !ok || c != "" {
		t.Errorf("NextCursorOf = %q, %v; want \"\", true", c, ok)
	}
	if err.Error() != "poll: "+base.Error() || !sdk.IsKind(err, sdk.KindReauth) || !errors.Is(err, base) {
		t.Errorf("the wrapper changed the error: %v", err)
	}
}
