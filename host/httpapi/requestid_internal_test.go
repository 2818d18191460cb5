package httpapi

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidRequestID: the loop accepts exactly what the documented pattern does.
func TestValidRequestID(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	ids := []string{"", "a", "Z9", "req-1.2_3:4", strings.Repeat("x", 128), strings.Repeat("x", 129),
		"bad id", "tab\there", "new\nline", "é", "a/b", "<b>", "a\x00", "trailing\n"}
	for c := 0; c < 256; c++ {
		ids = append(ids, "id"+string(rune(c)), string([]byte{byte(c)}))
	}
	for _, id := range ids {
		if got, want := validRequestID(id), pattern.MatchString(id); got != want {
			t.Errorf("validRequestID(%q) = %v, the pattern says %v", id, got, want)
		}
	}
}
