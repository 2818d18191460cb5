package pools

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// A provider may know things about the pool a device measures — Ondilo's /pools gives
// its volume and type. That is configuration, not a measurement, and the user's to
// decide: discovery keeps it with the device as a suggestion (CleanSuggestion), and only
// AcceptSuggestion writes it to the pool, through the same UpdateConfig as
// PATCH /v1/pools/{poolId}. It never reaches sensor_readings.

// CleanSuggestion keeps the fields of a plugin's suggestion that fit the pool vocabulary
// and drops the rest (a plugin's word is not trusted more than a user's input); nil when
// nothing is left.
func CleanSuggestion(in *sdk.PoolSuggestion) *store.PoolSuggestion {
	if in == nil {
		return nil
	}
	var out store.PoolSuggestion
	if in.VolumeLiters > 0 && in.VolumeLiters <= MaxVolumeLiters {
		out.VolumeLiters = in.VolumeLiters
	}
	if slices.Contains(Kinds, in.Kind) {
		out.Kind = in.Kind
	}
	if slices.Contains(Locations, in.Location) {
		out.Location = in.Location
	}
	if slices.Contains(Sanitizers, in.Sanitizer) {
		out.Sanitizer = in.Sanitizer
	}
	if out == (store.PoolSuggestion{}) {
		return nil
	}
	return &out
}

// AcceptSuggestion applies the suggestion of a device linked to the pool to the pool's
// configuration, as a PATCH with the suggested fields would. Owners and editors; a device
// that is not linked to this pool, or suggests nothing, is not found; one whose link no
// longer holds is a conflict.
func (s *Service) AcceptSuggestion(ctx context.Context, a auth.Actor, poolID, deviceID int64) (Pool, error) {
	if _, err := s.Require(ctx, a, poolID, Editor); err != nil {
		return Pool{}, err
	}
	d, err := s.st.GetDevice(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.PoolID != poolID) {
		return Pool{}, host.Errorf(host.ENOTFOUND, "no such device linked to this pool")
	}
	if err != nil {
		return Pool{}, err
	}
	if !d.LinkActive {
		// The device's owner may no longer write to this pool (store.Device.LinkActive):
		// its provider's word reaches the pool no more than its readings do.
		return Pool{}, host.Errorf(host.ECONFLICT, "the device's owner may no longer feed this pool (no longer an owner or editor of it, disabled, or disconnected)")
	}
	sg := d.Suggestion.PoolSuggestion
	if sg == nil {
		return Pool{}, host.Errorf(host.ENOTFOUND, "the device's provider suggests no configuration for this pool")
	}
	patch := Patch{}
	set := func(key string, v any) {
		b, _ := json.Marshal(v)
		patch[key] = b
	}
	if sg.VolumeLiters > 0 {
		set("volumeLiters", sg.VolumeLiters)
	}
	if sg.Kind != "" {
		set("kind", sg.Kind)
	}
	if sg.Location != "" {
		set("location", sg.Location)
	}
	if sg.Sanitizer != "" {
		set("sanitizer", sg.Sanitizer)
	}
	return s.UpdateConfig(ctx, a, poolID, patch)
}
