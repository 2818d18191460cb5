package host

import (
	"unicode"
	"unicode/utf8"
)

// CheckText is the one rule every name and free-text field a user or a plugin sets
// follows: valid UTF-8 and no control characters. A NUL cuts strings short in C-based
// tools and some drivers, and newlines or escape sequences forge lines in logs and
// terminals. Free text (multiline: notes, descriptions) may hold tab and line breaks;
// a name holds none. field names the field in the EINVALID error.
func CheckText(field, s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if multiline && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return Errorf(EINVALID, "%s must not contain control characters (found %U)", field, r)
		}
	}
	return nil
}
