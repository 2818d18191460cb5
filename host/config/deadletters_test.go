package config_test

import (
	"testing"
)

// The dead-letter caps per account decode, default, and refuse nonsense.
func TestDeadLetterCaps(t *testing.T) {
	cfg, err := parse(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingest.MaxDeadLettersPerAccount != 100 || cfg.Ingest.MaxDeadLetterBytesPerAccount != 10<<20 {
		t.Errorf("defaults %d, %d; want 100 and 10 MiB", cfg.Ingest.MaxDeadLettersPerAccount, cfg.Ingest.MaxDeadLetterBytesPerAccount)
	}
	cfg, err = parse(t, "ingest {\n  max_dead_letters_per_account = 7\n  max_dead_letter_bytes_per_account = 4096\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingest.MaxDeadLettersPerAccount != 7 || cfg.Ingest.MaxDeadLetterBytesPerAccount != 4096 {
		t.Errorf("got %d, %d; want 7 and 4096", cfg.Ingest.MaxDeadLettersPerAccount, cfg.Ingest.MaxDeadLetterBytesPerAccount)
	}
	if _, err := parse(t, "ingest {\n  max_dead_letters_per_account = 0\n}\n"); err == nil {
		t.Error("a cap of 0 dead letters was accepted")
	}
}
