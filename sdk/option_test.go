package sdk_test

import (
	"testing"

	"github.com/poolhost/poolhost/sdk"
)

func TestOptionCheck(t *testing.T) {
	cases := []struct {
		typ   sdk.OptionType
		value string
		ok    bool
	}{
		{"", "anything at all", true},
		{sdk.OptionString, "", true},
		{sdk.OptionInt, "42", true},
		{sdk.OptionInt, "4.2", false},
		{sdk.OptionBool, "true", true},
		{sdk.OptionBool, "yes", false},
		{sdk.OptionDuration, "1h30m", true},
		{sdk.OptionDuration, "90", false},
		{sdk.OptionURL, "https://api.example.com/v1", true},
		{sdk.OptionURL, "api.example.com", false},
		{sdk.OptionURL, "ftp://example.com", false},
		{"colour", "red", false},
	}
	for _, c := range cases {
		err := sdk.Option{Key: "k", Type: c.typ}.Check(c.value)
		if (err == nil) != c.ok {
			t.Errorf("type %q value %q: err = %v, want ok=%v", c.typ, c.value, err, c.ok)
		}
	}
}
