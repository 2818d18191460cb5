package store

import (
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/lib/pq"
)

// The group commit's array parameters (writeDeliveriesArgs, readingArrays) in
// PostgreSQL's binary array format. With binary_parameters (postgresDSN's default),
// lib/pq asks an argument for BinaryValue and sends its bytes as they are, which the
// server reads with array_recv: no text literal for the host to write (each number
// formatted, each string quoted and escaped, then copied twice more on its way to the
// wire by database/sql's conversion and pq's encoding) and none for the server to
// parse (array_in, and each element's input function: strtod for every value).
// Without binary_parameters pq calls Value instead, which answers the text literal
// pq's own arrays write, as before. A nil array is NULL either way, as pq's.
// BenchmarkGroupCommitStatementCPU at 16 deliveries a statement, three interleaved
// pairs (fsync off): the backend's CPU per delivery 172/198/201 -> 166/175/173 µs; host/bench
// (postgres/c64/plugin, seven pairs): the host's allocations per delivery 96-101 -> 87-91,
// its CPU per delivery about 4% lower (host/bench/HISTORY.md).
//
// The format (array_send): the number of dimensions (0 for an empty array, 1
// otherwise), a flag saying whether any element is NULL (none is here), the element
// type's OID, for the one dimension its length and lower bound (1), then each element
// as its length and its binary form (int8send, int4send, float8send: big-endian;
// textsend, byteasend: the bytes). array_recv refuses an element type other than the
// parameter's, so each type below is for one column type of the statement.

// Element type OIDs (pg_type).
const (
	oidBytea  = 17
	oidInt8   = 20
	oidInt4   = 23
	oidText   = 25
	oidFloat8 = 701
)

// arrayHeaderLen is the size of a one-dimensional array's header: dimensions, flags,
// element type, length, lower bound.
const arrayHeaderLen = 20

// newBinaryArray is a buffer holding the header of a binary array of n elements of
// type elem, with room for size bytes of elements after it.
func newBinaryArray(n int, elem uint32, size int) []byte {
	b := make([]byte, 0, arrayHeaderLen+size)
	if n == 0 {
		// No dimensions: array_recv answers the empty array.
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint32(b, 0)
		return binary.BigEndian.AppendUint32(b, elem)
	}
	b = binary.BigEndian.AppendUint32(b, 1) // dimensions
	b = binary.BigEndian.AppendUint32(b, 0) // no NULL element
	b = binary.BigEndian.AppendUint32(b, elem)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return binary.BigEndian.AppendUint32(b, 1) // lower bound
}

// int8Array is a BIGINT[] parameter.
type int8Array []int64

func (a int8Array) BinaryValue() ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	b := newBinaryArray(len(a), oidInt8, 12*len(a))
	for _, v := range a {
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b, nil
}

func (a int8Array) Value() (driver.Value, error) { return pq.Int64Array(a).Value() }

// int4Array is an INT[] parameter.
type int4Array []int32

func (a int4Array) BinaryValue() ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	b := newBinaryArray(len(a), oidInt4, 8*len(a))
	for _, v := range a {
		b = binary.BigEndian.AppendUint32(b, 4)
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	return b, nil
}

func (a int4Array) Value() (driver.Value, error) { return pq.Int32Array(a).Value() }

// int4 is n as an INT[] element, or an error for one that does not fit.
func int4(n int) (int32, error) {
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %d does not fit in an INT", ErrInvalid, n)
	}
	return int32(n), nil
}

// float8Array is a DOUBLE PRECISION[] parameter. The binary form is the value's own
// bits, so it arrives exactly as the text literal's shortest decimal did.
type float8Array []float64

func (a float8Array) BinaryValue() ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	b := newBinaryArray(len(a), oidFloat8, 12*len(a))
	for _, v := range a {
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b, nil
}

func (a float8Array) Value() (driver.Value, error) { return pq.Float64Array(a).Value() }

// textArray is a TEXT[] parameter. The server checks each element's encoding as it
// does a text literal's.
type textArray []string

func (a textArray) BinaryValue() ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	return varlenBinary(a, oidText), nil
}

func (a textArray) Value() (driver.Value, error) { return pq.StringArray(a).Value() }

// byteaArray is a BYTEA[] parameter; a nil element is empty, as in pq.ByteaArray.
type byteaArray [][]byte

func (a byteaArray) BinaryValue() ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	return varlenBinary(a, oidBytea), nil
}

func (a byteaArray) Value() (driver.Value, error) { return pq.ByteaArray(a).Value() }

// varlenBinary is the binary array of a's elements, each its length and its bytes as
// they are (TEXT and BYTEA alike).
func varlenBinary[E ~string | ~[]byte](a []E, oid uint32) []byte {
	size := 4 * len(a)
	for _, s := range a {
		size += len(s)
	}
	b := newBinaryArray(len(a), oid, size)
	for _, s := range a {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}
