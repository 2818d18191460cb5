package sdk

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Known reports whether t is one of the OptionType constants (or empty, a string).
func (t OptionType) Known() bool {
	switch t {
	case "", OptionString, OptionInt, OptionBool, OptionDuration, OptionURL:
		return true
	}
	return false
}

// Check reports whether value is one o accepts: it must parse as o's Type. The host
// calls it on every declared setting in a config block and on every connect input, so
// a plugin's own parsing of a checked value cannot fail.
func (o Option) Check(value string) error {
	switch o.Type {
	case "", OptionString:
		return nil
	case OptionInt:
		if _, err := strconv.ParseInt(value, 10, 64); err != nil {
			return fmt.Errorf("%q is not an integer", value)
		}
	case OptionBool:
		if _, err := strconv.ParseBool(value); err != nil {
			return fmt.Errorf("%q is not true or false", value)
		}
	case OptionDuration:
		if _, err := time.ParseDuration(value); err != nil {
			return fmt.Errorf("%q is not a duration such as 15m or 1h30m", value)
		}
	case OptionURL:
		u, err := url.Parse(value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%q is not an absolute http or https URL", value)
		}
	default:
		return fmt.Errorf("option %q has unknown type %q", o.Key, o.Type)
	}
	return nil
}
