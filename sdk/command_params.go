package sdk

import (
	"encoding/json"

	"github.com/poolhost/poolhost/sdk/command"
)

// A command's parameters cross the wire as JSON (SendCommandRequest.params_json): the
// host's client (sdk/grpcplugin) encodes them with EncodeCommandParams, and the plugin
// side of the wire decodes them with DecodeCommandParams before it calls SendCommand.
// sdktest.Direct runs that client and that side, so an adapter tested in-process
// receives exactly the Params it receives in a host: numbers float64 whatever Go type
// they were given in, a heater target given in °F in °C with the unit dropped, and no
// parameter command.Validate refuses (the adapter is not called for those).

// EncodeCommandParams writes p as the host sends it to a plugin. Used by the host's
// client and sdktest; adapters never call it (outside the compatibility promise: it
// changes with the wire). An error is [KindPermanent]: nothing was sent.
func EncodeCommandParams(p command.Params) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, Permanent("encode params: %v", err)
	}
	return b, nil
}

// DecodeCommandParams returns the Params SendCommand receives for params_json, the
// parameters of the command name: decoded, then checked and normalized by
// [command.Validate]. The host validated them already; validating again here keeps a
// host bug (or a host in another language) from actuating anything on a guess. A
// refusal is [KindPermanent]: the adapter is not called, nothing was sent. Used by the
// plugin side of the wire ([Serve]) and sdktest; adapters never call it (outside the
// compatibility promise: it changes with the wire).
func DecodeCommandParams(name string, paramsJSON []byte) (command.Params, error) {
	var raw map[string]any
	if len(paramsJSON) > 0 {
		if err := json.Unmarshal(paramsJSON, &raw); err != nil {
			return nil, Permanent("params: %v", err)
		}
	}
	params, err := command.Validate(name, raw)
	if err != nil {
		return nil, Permanent("%v", err)
	}
	return params, nil
}
