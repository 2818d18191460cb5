package ondilo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
)

// pool is the part of an Ondilo /pools entry the adapter uses.
type pool struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	// Volume is in cubic meters; absent or 0 when the user did not say.
	Volume       float64 `json:"volume"`
	Disinfection struct {
		Primary string `json:"primary"`
	} `json:"disinfection"`
}

// device is Ondilo's /pools/{id}/device answer.
type device struct {
	UUID         string `json:"uuid"`
	SerialNumber string `json:"serial_number"`
	SWVersion    string `json:"sw_version"`
}

// userInfo is Ondilo's /user/info answer: the token's user. It carries no user id.
type userInfo struct {
	LastName  string `json:"lastname"`
	FirstName string `json:"firstname"`
	Email     string `json:"email"`
}

// measure is one /pools/{id}/lastmeasures entry. Value is null when the ICO has no
// value for that type; ExclusionReason is null for a kept measure.
type measure struct {
	DataType        string          `json:"data_type"`
	Value           *float64        `json:"value"`
	ValueTime       string          `json:"value_time"`
	IsValid         *bool           `json:"is_valid"`
	ExclusionReason json.RawMessage `json:"exclusion_reason"`
	raw             json.RawMessage
}

// measureTypes is every data type the adapter asks for, in Ondilo's spelling.
var measureTypes = []string{"temperature", "ph", "orp", "salt", "tds", "battery", "rssi"}

func (s *session) pools(ctx context.Context) ([]pool, error) {
	var ps []pool
	if err := s.getJSON(ctx, "/pools", nil, &ps); err != nil {
		return nil, err
	}
	return ps, nil
}

func (s *session) userInfo(ctx context.Context) (userInfo, error) {
	var u userInfo
	if err := s.getJSON(ctx, "/user/info", nil, &u); err != nil {
		return userInfo{}, err
	}
	return u, nil
}

// device returns the ICO of a pool; ok is false when the pool has none.
func (s *session) device(ctx context.Context, poolID int64) (device, bool, error) {
	var d device
	err := s.getJSON(ctx, fmt.Sprintf("/pools/%d/device", poolID), nil, &d)
	if errors.Is(err, errNotFound) {
		return device{}, false, nil
	}
	if err != nil {
		return device{}, false, err
	}
	return d, d.UUID != "", nil
}

func (s *session) lastMeasures(ctx context.Context, poolID int64) ([]measure, error) {
	var raws []json.RawMessage
	q := url.Values{"types[]": measureTypes}
	err := s.getJSON(ctx, fmt.Sprintf("/pools/%d/lastmeasures", poolID), q, &raws)
	if errors.Is(err, errNotFound) || errors.Is(err, errForbidden) {
		// No measure there (an ICO that has not measured yet, a pool deleted or unshared
		// since /pools): nothing new, not a failure of the account's whole poll.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ms := make([]measure, 0, len(raws))
	for _, r := range raws {
		var m measure
		if err := json.Unmarshal(r, &m); err != nil {
			// One odd entry must not hide the others.
			continue
		}
		m.raw = r
		ms = append(ms, m)
	}
	return ms, nil
}
