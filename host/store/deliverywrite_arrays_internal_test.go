package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/pgtest"
)

// binaryValuer is what lib/pq asks an argument for when binary_parameters is on.
type binaryValuer interface{ BinaryValue() ([]byte, error) }

// TestArrayParametersAsTheTextLiteralWas: every array type the group commit sends
// reaches PostgreSQL as the same value in binary (binary_parameters=yes, postgresDSN's
// default) as in text (=no, pq's literal): the server's own text of each is compared.
func TestArrayParametersAsTheTextLiteralWas(t *testing.T) {
	raw := pgtest.NewDatabase(t)
	open := func(binary string) *sql.DB {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("binary_parameters", binary)
		u.RawQuery = q.Encode()
		db, err := sql.Open("postgres", u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	bin, text := open("yes"), open("no")
	cases := []struct {
		name, cast string
		arg        driver.Valuer
		want       string // the server's text of the array; "NULL" for none
	}{
		{"int8", "BIGINT[]", int8Array{0, -1, math.MaxInt64, math.MinInt64, 1733540000123456}, "{0,-1,9223372036854775807,-9223372036854775808,1733540000123456}"},
		{"int8 empty", "BIGINT[]", int8Array{}, "{}"},
		{"int8 nil", "BIGINT[]", int8Array(nil), "NULL"},
		{"int4", "INT[]", int4Array{0, 7, -3, math.MaxInt32}, "{0,7,-3,2147483647}"},
		{"int4 nil", "INT[]", int4Array(nil), "NULL"},
		{"float8", "DOUBLE PRECISION[]", float8Array{7.4, 0.1, math.Copysign(0, -1), 1e300, 5e-324, math.Inf(1), math.Inf(-1)},
			"{7.4,0.1,-0,1e+300,5e-324,Infinity,-Infinity}"},
		{"float8 empty", "DOUBLE PRECISION[]", float8Array{}, "{}"},
		{"text", "TEXT[]", textArray{"ph", "", `a"b`, `c\d`, "e,f", "{g}", "NULL", "°C ü", " x "},
			`{ph,"","a\"b","c\\d","e,f","{g}","NULL","°C ü"," x "}`},
		{"text nil", "TEXT[]", textArray(nil), "NULL"},
		{"bytea", "BYTEA[]", byteaArray{nil, {}, {0, 1, 0xff}, []byte(`{"a":1}`)},
			`{"\\x","\\x","\\x0001ff","\\x7b2261223a317d"}`},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.arg.(binaryValuer); !ok {
				t.Fatalf("%T has no BinaryValue: lib/pq would send its text literal", tc.arg)
			}
			for mode, db := range map[string]*sql.DB{"binary": bin, "text": text} {
				var got sql.NullString
				if err := db.QueryRowContext(ctx, `SELECT CAST($1 AS `+tc.cast+`)::TEXT`, tc.arg).Scan(&got); err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				s := "NULL"
				if got.Valid {
					s = got.String
				}
				if s != tc.want {
					t.Errorf("%s: got %s, want %s", mode, s, tc.want)
				}
			}
		})
	}
}

// TestWriteDeliveriesArgsAreBinary: each of the group commit statement's arguments
// goes in binary when lib/pq can send it so (see deliverywrite_arrays.go).
func TestWriteDeliveriesArgsAreBinary(t *testing.T) {
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	ds := []DeliveryWrite{{
		Readings: []Reading{{DeviceID: 1, PoolID: 2, Metric: "ph", Value: 7.4, Unit: "pH", RecordedAt: now, ReceivedAt: now}},
		Audit:    &AuditEvent{Action: "webhook.received", Actor: "provider:acme", Provider: "acme"},
		Once:     &DeliveryKey{Provider: "acme", DeliveryID: "d1"},
	}}
	rows, owner := uniqueReadings(ds, now)
	args, err := writeDeliveriesArgs(ds, rows, owner, []int{1}, now)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		if _, ok := a.(binaryValuer); !ok {
			t.Errorf("argument $%d is a %T, without BinaryValue", i+1, a)
		}
	}
}
