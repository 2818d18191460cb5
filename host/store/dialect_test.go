package store

import (
	"strings"
	"testing"
)

func TestPostgresDSNBinaryParameters(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"added", "postgres://u:p@h:5432/db?sslmode=disable", "binary_parameters=yes"},
		{"added without query", "postgresql://h/db", "binary_parameters=yes"},
		{"caller's choice kept", "postgres://h/db?binary_parameters=no&sslmode=disable", "binary_parameters=no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := postgresDSN(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(got, tt.want) || strings.Count(got, "binary_parameters") != 1 {
				t.Errorf("postgresDSN(%q) = %q, want one %s", tt.url, got, tt.want)
			}
		})
	}
	if _, err := postgresDSN("postgres://u:secret@h:99999x/db"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad URL: error %v must exist and not quote the password", err)
	}
}
