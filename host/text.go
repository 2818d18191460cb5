package host

import (
	"unicode"
	"unicode/utf8"
)

// CheckText is the one rule every name and free-text field a user or a plugin sets
// follows: valid UTF-8 and no control characters. A NUL cuts strings short in C-based
// tools and some drivers, and newlines or escape sequences forge lines in logs and
// terminals. Free text (multiline: notes, descriptions) may hold tab and line breaks;
// a name holds none, nor U+2028 and U+2029 (line breaks to browsers and log viewers)
// nor bidirectional controls (bidiControl). field names the field in the EINVALID error.
func CheckText(field, s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if multiline && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) || !multiline && (r == '\u2028' || r == '\u2029' || bidiControl(r)) {
			return Errorf(EINVALID, "%s must not contain control characters (found %U)", field, r)
		}
	}
	return nil
}

// bidiControl reports the bidirectional embeddings, overrides and isolates
// (U+202A-U+202E, U+2066-U+2069): in a name they make it display as other text than it
// holds ("Trojan Source"). The marks U+200E and U+200F, which right-to-left names use,
// are not among them.
func bidiControl(r rune) bool {
	return r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069'
}
