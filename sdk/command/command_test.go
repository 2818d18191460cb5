package command_test

import (
	"errors"
	"math"
	"testing"

	"github.com/poolhost/poolhost/sdk/command"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cmd     string
		raw     map[string]any
		want    command.Params
		wantErr error
	}{
		{"pump on", command.PumpSet, map[string]any{"on": true}, command.Params{"on": true}, nil},
		{"pump speed", command.PumpSet, map[string]any{"on": true, "speed_percent": 55.0}, command.Params{"on": true, "speed_percent": 55.0}, nil},
		{"pump speed int", command.PumpSet, map[string]any{"on": false, "speed_percent": 100}, command.Params{"on": false, "speed_percent": 100.0}, nil},
		{"pump speed high", command.PumpSet, map[string]any{"on": true, "speed_percent": 101.0}, nil, command.ErrInvalidParams},
		{"pump on missing", command.PumpSet, map[string]any{}, nil, command.ErrInvalidParams},
		{"pump on not bool", command.PumpSet, map[string]any{"on": "yes"}, nil, command.ErrInvalidParams},
		{"pump unknown param", command.PumpSet, map[string]any{"on": true, "turbo": true}, nil, command.ErrInvalidParams},
		{"pump unit refused", command.PumpSet, map[string]any{"on": true, "unit": "F"}, nil, command.ErrInvalidParams},
		{"chlorinator", command.ChlorinatorSetOutput, map[string]any{"percent": 40.0}, command.Params{"percent": 40.0}, nil},
		{"chlorinator negative", command.ChlorinatorSetOutput, map[string]any{"percent": -1.0}, nil, command.ErrInvalidParams},
		{"chlorinator NaN", command.ChlorinatorSetOutput, map[string]any{"percent": math.NaN()}, nil, command.ErrInvalidParams},
		{"heater C", command.HeaterSetTarget, map[string]any{"temperature": 28.0}, command.Params{"temperature": 28.0}, nil},
		{"heater F converted", command.HeaterSetTarget, map[string]any{"temperature": 82.4, "unit": "°F"}, command.Params{"temperature": 28.0}, nil},
		{"heater F out of range", command.HeaterSetTarget, map[string]any{"temperature": 110.0, "unit": "F"}, nil, command.ErrInvalidParams},
		{"heater too hot C", command.HeaterSetTarget, map[string]any{"temperature": 41.0}, nil, command.ErrInvalidParams},
		{"heater bad unit", command.HeaterSetTarget, map[string]any{"temperature": 28.0, "unit": "furlong"}, nil, command.ErrInvalidParams},
		{"light", command.LightSet, map[string]any{"on": false}, command.Params{"on": false}, nil},
		{"dose", command.DosingDose, map[string]any{"product": "acid", "volume_ml": 250.0}, command.Params{"product": "acid", "volume_ml": 250.0}, nil},
		{"dose bad product", command.DosingDose, map[string]any{"product": "bleach", "volume_ml": 250.0}, nil, command.ErrInvalidParams},
		{"dose zero", command.DosingDose, map[string]any{"product": "chlorine", "volume_ml": 0.0}, nil, command.ErrInvalidParams},
		{"dose too much", command.DosingDose, map[string]any{"product": "chlorine", "volume_ml": 1001.0}, nil, command.ErrInvalidParams},
		{"unknown", "pump.explode", map[string]any{}, nil, command.ErrUnknownCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := command.Validate(tt.cmd, tt.raw)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Validate = %v, %v; want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Validate = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("Validate[%s] = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestParamErrorNamesTheParameter(t *testing.T) {
	_, err := command.Validate(command.PumpSet, map[string]any{"on": true, "speed_percent": 150.0})
	var pe *command.ParamError
	if !errors.As(err, &pe) || pe.Param != "speed_percent" {
		t.Fatalf("err = %v, want a ParamError for speed_percent", err)
	}
}

func TestAllIsTheVocabulary(t *testing.T) {
	names := command.Names()
	want := []string{command.ChlorinatorSetOutput, command.DosingDose, command.HeaterSetTarget, command.LightSet, command.PumpSet}
	if len(names) != len(want) {
		t.Fatalf("Names = %v", names)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("Names = %v, want %v", names, want)
		}
	}
}
