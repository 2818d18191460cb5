package main

import (
	"testing"

	"github.com/poolhost/poolhost/host/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
