package store

import (
	"fmt"
	"sync"
	"time"

	// Zone rules come with the binary: a pool's days must not depend on whether the
	// machine (or its container image) has /usr/share/zoneinfo.
	_ "time/tzdata"
)

// DefaultTimeZone is a pool's zone until its members set one.
const DefaultTimeZone = "UTC"

var zones sync.Map // name → *time.Location; LoadLocation parses tzdata on every call

// LoadZone returns the IANA zone name (e.g. "America/Los_Angeles"). "" and "Local" are
// refused: a pool's days must not depend on the machine the host runs on.
func LoadZone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%w: %q is not an IANA time zone", ErrInvalid, name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not an IANA time zone", ErrInvalid, name)
	}
	zones.Store(name, loc)
	return loc, nil
}

// zoneOrUTC is a stored zone name's location; a name this binary's tzdata no longer
// knows (the host validated it when it was set) counts as UTC rather than failing reads.
func zoneOrUTC(name string) *time.Location {
	if loc, err := LoadZone(name); err == nil {
		return loc
	}
	return time.UTC
}

// localHour is the pool's local clock hour holding the instant sec (Unix seconds):
// [start, end) in Unix seconds. An hour starts at a local hh:00 or where the zone's
// offset changes, whichever is later, and ends at the next of either; so every local
// midnight is an hour's start, in every zone: half and quarter-hour offsets
// (Asia/Kolkata, Asia/Kathmandu) and DST shifts of 30 minutes (Australia/Lord_Howe)
// included.
func localHour(sec int64, loc *time.Location) (start, end int64) {
	t := time.Unix(sec, 0).In(loc)
	_, off := t.Zone()
	l := sec + int64(off)
	start = l - floorMod(l, 3600) - int64(off)
	end = start + 3600
	zs, ze := t.ZoneBounds()
	if !zs.IsZero() && zs.Unix() > start {
		start = zs.Unix()
	}
	if !ze.IsZero() && ze.Unix() < end {
		end = ze.Unix()
	}
	return start, end
}

// localDay is the pool's local day holding the instant sec: from its local midnight to
// the next (23 or 25 hours on DST days). Where a zone skips midnight (clocks jump from
// 00:00 to 01:00) the day starts at the jump.
func localDay(sec int64, loc *time.Location) (start, end int64) {
	t := time.Unix(sec, 0).In(loc)
	y, m, d := t.Date()
	return dayStart(y, m, d, loc), dayStart(y, m, d+1, loc)
}

func dayStart(y int, m time.Month, d int, loc *time.Location) int64 {
	y, m, d = time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Date() // d+1 past the month's end
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	// time.Date picks some instant for a midnight the zone skips: the first instant of
	// the day is then the offset change around it.
	if _, ze := t.ZoneBounds(); !ze.IsZero() {
		if ty, tm, td := t.Date(); ty != y || tm != m || td != d {
			return ze.Unix()
		}
	}
	if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 {
		if zs, _ := t.ZoneBounds(); !zs.IsZero() {
			if zy, zm, zd := zs.Date(); zy == y && zm == m && zd == d {
				return zs.Unix()
			}
		}
	}
	return t.Unix()
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
