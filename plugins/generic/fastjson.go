package generic

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

// decodeFast decodes the shape nearly every generic payload has — a report or an array
// of reports, their device_id and readings, each reading's metric, value, unit,
// recorded_at, quality and qualifier, strings without escapes — into *into's storage,
// as decodeReports prepared it. encoding/json allocates every string of every reading
// and reflects on every field; here the metric names, units, qualities and qualifiers a
// payload repeats are the interned strings, and a delivery's readings share one string
// for equal times: for host/bench's 10-reading delivery, 2 allocations instead of 31,
// and a fraction of the CPU (BenchmarkIngestWebhook).
//
// Keys the format does not have are skipped, as encoding/json ignores them. Anything
// else — a key in another case, a key given twice, null, an escape in a value it keeps,
// invalid UTF-8, test sessions, a number encoding/json would refuse — returns false, and
// decodeReports lets
// encoding/json decode the body from scratch: its answer, and its error, are the ones
// that count. FuzzDecodeFast holds the two to the same reports.
func decodeFast(body []byte, into *[]Report) bool {
	s := scanner{b: body}
	reports := (*into)[:0]
	var ok bool
	if s.peek() == '[' {
		s.i++
		if s.next(']') {
			ok = true
		} else {
			for {
				reports = grow(reports)
				if ok = s.report(&reports[len(reports)-1]); !ok || !s.next(',') {
					break
				}
			}
			ok = ok && s.next(']')
		}
		if reports == nil {
			reports = []Report{} // as encoding/json leaves an empty array
		}
	} else {
		reports = grow(reports)
		ok = s.report(&reports[0])
	}
	*into = reports
	s.space()
	return ok && s.i == len(s.b)
}

// grow is reports one longer, the new report from reused storage when there is some.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s[:len(s)+1]
	}
	var zero T
	return append(s, zero)
}

// scanner reads JSON from b at i.
type scanner struct {
	b    []byte
	i    int
	last string // the last recorded_at, which a delivery's readings often share
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek is the next byte after white space, 0 at the end.
func (s *scanner) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// next consumes c when it comes next.
func (s *scanner) next(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// str reads a string that needs no unescaping: its bytes.
func (s *scanner) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) && plain[s.b[s.i]] { // nearly every string is plain ASCII
		s.i++
	}
	var high byte // any byte of a multi-byte character sets its top bit here
	for ; s.i < len(s.b); s.i++ {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			// encoding/json replaces invalid UTF-8; ASCII is valid without a second pass.
			return v, high < utf8.RuneSelf || utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		high |= c
	}
	return nil, false
}

// plain are the bytes a string holds as they are: ASCII, not a control character, a
// quote or a backslash. Looking each byte up once, and validating UTF-8 only when a
// string has other bytes, halved str's CPU (BenchmarkIngestWebhook/direct, profiled).
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// number reads a number as JSON spells it (strconv.ParseFloat takes more).
func (s *scanner) number() (float64, bool) {
	s.space()
	start := s.i
	neg := s.skip('-')
	digitsStart := s.i
	if !s.skip('0') && !s.digits() {
		return 0, false
	}
	intEnd := s.i
	if s.skip('.') && !s.digits() {
		return 0, false
	}
	fracEnd := s.i
	if s.skip('e') || s.skip('E') {
		if !s.skip('+') {
			s.skip('-')
		}
		if !s.digits() {
			return 0, false
		}
	}
	if s.i == fracEnd { // no exponent
		if f, ok := exactDecimal(s.b[digitsStart:intEnd], s.b[min(intEnd+1, fracEnd):fracEnd]); ok {
			if neg {
				f = -f
			}
			return f, true
		}
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	return f, err == nil // out of range: encoding/json's error
}

// exactDecimal is the value of the decimal digits whole.frac when both the digits as an
// integer and the power of ten dividing it are exact in a float64 (at most 15 digits,
// at most 22 after the point): one division, correctly rounded, gives the float64
// nearest the decimal, as strconv.ParseFloat's own exact case does. Readings' values
// ("7.4", "700", "27.5") nearly always are; ok is false for the others, which
// ParseFloat takes. It skips ParseFloat's second reading of the digits: about a
// tenth of decodeFast's CPU.
func exactDecimal(whole, frac []byte) (float64, bool) {
	if len(whole)+len(frac) > 15 || len(frac) >= len(pow10) {
		return 0, false
	}
	var n uint64
	for _, c := range whole {
		n = n*10 + uint64(c-'0')
	}
	for _, c := range frac {
		n = n*10 + uint64(c-'0')
	}
	return float64(n) / pow10[len(frac)], true
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

func (s *scanner) skip(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// digits reads one or more decimal digits.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// object reads an object whose keys are among keys, each at most once, calling member
// with a key's index once at its value.
func (s *scanner) object(keys []string, member func(int) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	var seen uint32
	guess := 0 // the key likely next: objects of one kind list their keys in one order
	for {
		i, k, ok := s.key(keys, guess)
		if !ok {
			return false
		}
		guess = i + 1
		switch {
		case i >= 0 && seen&(1<<i) != 0:
			return false // taken twice: the last one wins
		case i >= 0:
			seen |= 1 << i
			if !member(i) {
				return false
			}
		case foldsToOne(keys, k):
			return false // encoding/json matches keys without regard to case
		case !s.skipValue(0):
			return false
		}
		if !s.next(',') {
			return s.next('}')
		}
	}
}

// key reads an object's key and the colon after it; i is the key's index among keys, -1
// for none of them. keys[guess] is tried first, by comparing the bytes that would spell
// it, quotes and colon included, with the input (a plain ASCII key followed by its
// closing quote is that key), which saves reading the key as a string and looking it
// up: a fifth of decodeFast's CPU on host/bench's payload (BenchmarkIngestWebhook/direct,
// profiled). Anything else (white space before the colon, another key) is read the
// general way.
func (s *scanner) key(keys []string, guess int) (i int, k []byte, ok bool) {
	s.space()
	if guess < len(keys) {
		g, b, at := keys[guess], s.b, s.i
		if n := len(g); len(b)-at >= n+3 && b[at] == '"' && string(b[at+1:at+1+n]) == g && b[at+1+n] == '"' && b[at+2+n] == ':' {
			s.i = at + n + 3
			return guess, b[at+1 : at+1+n], true
		}
	}
	if k, ok = s.str(); !ok || !s.next(':') {
		return -1, nil, false
	}
	return index(keys, k), k, true
}

// foldsToOne tells whether encoding/json could take k for one of keys: they differ in
// case, or k is not ASCII (Unicode folding has its own equivalents, such as K for k).
func foldsToOne(keys []string, k []byte) bool {
	for _, c := range k {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	for _, key := range keys {
		if strings.EqualFold(key, string(k)) {
			return true
		}
	}
	return false
}

// skipValue reads any value, as valid as encoding/json wants it: the value of a key the
// format does not have ("seq" in host/bench's payloads), which encoding/json ignores.
func (s *scanner) skipValue(depth int) bool {
	if depth > 100 {
		return false // encoding/json's limit is 10000: let it judge
	}
	switch s.peek() {
	case '"':
		s.i++
		for ; s.i < len(s.b); s.i++ {
			switch c := s.b[s.i]; {
			case c == '"':
				s.i++
				return true
			case c < 0x20:
				return false
			case c == '\\':
				s.i++
				if s.i >= len(s.b) {
					return false
				}
				switch s.b[s.i] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				case 'u':
					for range 4 {
						if s.i++; s.i >= len(s.b) || !isHex(s.b[s.i]) {
							return false
						}
					}
				default:
					return false
				}
			}
		}
		return false
	case '{':
		s.i++
		if s.next('}') {
			return true
		}
		for {
			if s.peek() != '"' || !s.skipValue(depth+1) || !s.next(':') || !s.skipValue(depth+1) {
				return false
			}
			if !s.next(',') {
				return s.next('}')
			}
		}
	case '[':
		s.i++
		if s.next(']') {
			return true
		}
		for {
			if !s.skipValue(depth + 1) {
				return false
			}
			if !s.next(',') {
				return s.next(']')
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	_, ok := s.number()
	return ok
}

func (s *scanner) literal(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func index(keys []string, k []byte) int {
	for i, key := range keys {
		if key == string(k) {
			return i
		}
	}
	return -1
}

// The keys of Report and ReportReading, every json tag (TestFastKeysAreEveryField): a
// key not among them is skipped, as encoding/json ignores it.
var (
	reportKeys  = []string{"device_id", "readings", "test_sessions"}
	readingKeys = []string{"metric", "value", "unit", "recorded_at", "quality", "qualifier"}
)

func (s *scanner) report(r *Report) bool {
	return s.object(reportKeys, func(k int) bool {
		switch k {
		case 0:
			v, ok := s.str()
			r.DeviceID = s.string(v)
			return ok
		case 1:
			return s.readings(r)
		}
		return false // test sessions: rare, encoding/json's
	})
}

func (s *scanner) readings(r *Report) bool {
	if !s.next('[') {
		return false
	}
	rs := r.Readings[:0]
	if rs == nil {
		rs = []ReportReading{} // as encoding/json leaves an empty array
	}
	if !s.next(']') {
		for {
			rs = grow(rs)
			if !s.reading(&rs[len(rs)-1]) {
				return false
			}
			if !s.next(',') {
				break
			}
		}
		if !s.next(']') {
			return false
		}
	}
	r.Readings = rs
	return true
}

func (s *scanner) reading(r *ReportReading) bool {
	return s.object(readingKeys, func(k int) bool {
		if k == 1 {
			f, ok := s.number()
			if r.Value == nil {
				r.Value = new(float64)
			}
			*r.Value = f
			return ok
		}
		v, ok := s.str()
		switch k {
		case 0:
			r.Metric = s.string(v)
		case 2:
			r.Unit = s.string(v)
		case 3:
			if s.last != string(v) {
				s.last = string(v)
			}
			r.RecordedAt = s.last
		case 4:
			r.Quality = s.string(v)
		case 5:
			r.Qualifier = s.string(v)
		}
		return ok
	})
}

// string is v as a string: the interned one when there is one.
func (s *scanner) string(v []byte) string {
	if in, ok := internedTable.find(v); ok {
		return in
	}
	return string(v)
}

// internTable finds the interned strings with one probe: every interned string has a
// slot of its own (newInternTable sizes the table until none collide), so a string read
// is the interned one when it equals its slot's, and is none otherwise. The map lookup
// it replaces (hash, then a probe of the map's groups) was 2.5% of the plugin's CPU at
// postgres/c64/plugin (perf: 20 lookups a delivery).
type internTable struct {
	slots []string
	mask  uint32
}

var internedTable = newInternTable(interned)

// newInternTable is a table of the strings of m, the smallest from 64 slots up in which
// no two collide.
func newInternTable(m map[string]string) internTable {
	for size := 64; size <= 1<<16; size *= 2 {
		t := internTable{slots: make([]string, size), mask: uint32(size - 1)}
		used := make([]bool, size)
		ok := true
		for s := range m {
			i := fnv1a([]byte(s)) & t.mask
			if used[i] {
				ok = false
				break
			}
			used[i], t.slots[i] = true, s
		}
		if ok {
			return t
		}
	}
	panic("generic: no interning table without collisions")
}

// find is the interned string equal to v, if any.
func (t internTable) find(v []byte) (string, bool) {
	in := t.slots[fnv1a(v)&t.mask]
	return in, in == string(v) && len(v) > 0
}

// fnv1a is the 32-bit FNV-1a hash of v.
func fnv1a(v []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range v {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// interned are the strings payloads repeat: the metric names, their units as the
// documentation spells them, the qualities and qualifiers.
var interned = func() map[string]string {
	m := map[string]string{}
	add := func(s string) { m[s] = s }
	for _, info := range metric.All() {
		add(info.Name)
		add(info.Unit)
	}
	for _, u := range []string{"pH", "mV", "C", "F", "ppm", "mg/L", "ppb", "g/L", "uS/cm", "µS/cm", "%", "dBm"} {
		add(u)
	}
	for _, q := range []string{string(sdk.QualityGood), string(sdk.QualitySuspect), string(sdk.QualityOutOfRange),
		string(sdk.QualifierAbove), string(sdk.QualifierBelow)} {
		add(q)
	}
	return m
}()
