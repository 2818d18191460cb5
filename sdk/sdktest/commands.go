package sdktest

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
)

// commandsChecks checks a write-capable plugin: the commands it declares are in the
// vocabulary (sdk/command), and each CommandCase comes back as the kind it must, so the
// host never resends what may have reached a device and never gives up on what surely
// did not.
func (k *checker) commandsChecks(d sdk.Description, f Fixtures) []Result {
	if !d.Capabilities.Write && len(d.Capabilities.Commands) == 0 {
		return []Result{{Check: "commands", Skipped: "the plugin does not declare write capability"}}
	}
	out := []Result{commandsDeclaredCheck(d)}
	c, ok := k.t.(sdk.Commander)
	if dt, isDirect := k.t.(direct); isDirect {
		_, ok = dt.adapter.(sdk.Commander)
	}
	if !ok {
		out[0].Err = errors.Join(out[0].Err, errors.New("the plugin declares write capability but does not implement sdk.Commander"))
		return out
	}
	if len(f.Commands) == 0 {
		return append(out, Result{Check: "commands/errors", Skipped: "no Commands fixtures (commands.json, or Fixtures.Commands in a Go test): add a refused and an accepted SendCommand against your fake provider"})
	}
	for _, cc := range f.Commands {
		r := Result{Check: "commands/" + cc.Name}
		if _, err := paramsAsReceived(cc.Request); err != nil {
			r.Err = fmt.Errorf("the fixture's command does not validate: %w", err)
			out = append(out, r)
			continue
		}
		res, err := callT(k, "send_command", func(ctx context.Context) (sdk.CommandResult, error) { return c.SendCommand(ctx, cc.Request) })
		got := commandOutcome(res, err)
		if got == "unsupported" {
			// A plugin (in another language: a Go one is refused at Describe) that
			// answers UNIMPLEMENTED: nothing is sent, the host fails every command.
			r.Err = fmt.Errorf("SendCommand answered unsupported (%v): the plugin declares write capability but does not serve SendCommand, so the host fails every command it is sent", err)
		} else if got != cc.Want {
			r.Err = fmt.Errorf("SendCommand came back %s (%v), want %s", got, err, cc.Want)
		}
		r.Detail = got
		out = append(out, r)
	}
	return out
}

// commandOutcome names what the host would make of a SendCommand answer.
func commandOutcome(res sdk.CommandResult, err error) string {
	if err == nil {
		if res.Status == "" {
			return string(sdk.CommandSent)
		}
		return string(res.Status)
	}
	if kind, ok := sdk.CommandRefusal(err); ok {
		switch kind {
		case sdk.KindPermanent:
			return "permanent"
		case sdk.KindTemporary:
			return "temporary"
		case sdk.KindReauth:
			return "unauthorized"
		}
	}
	if sdk.IsKind(err, sdk.KindUnsupported) && !sdk.IsOutcomeUnknown(err) {
		return "unsupported"
	}
	if errors.Is(err, errPanicked) || errors.Is(err, errHung) {
		return "unknown (" + err.Error() + ")"
	}
	return "unknown"
}

func commandsDeclaredCheck(d sdk.Description) Result {
	r := Result{Check: "commands/declared"}
	var errs []error
	if !d.Capabilities.Write {
		errs = append(errs, errors.New("commands are listed but Capabilities.Write is not set"))
	}
	if len(d.Capabilities.Commands) == 0 {
		errs = append(errs, errors.New("Capabilities.Write is set but no Commands are listed; the host cannot approve any"))
	}
	for i, name := range d.Capabilities.Commands {
		if _, ok := command.Lookup(name); !ok {
			errs = append(errs, fmt.Errorf("command %q is not in the vocabulary (sdk/command: %v)", name, command.Names()))
		}
		if slices.Index(d.Capabilities.Commands, name) != i {
			errs = append(errs, fmt.Errorf("command %q is listed twice", name))
		}
	}
	r.Err = errors.Join(errs...)
	r.Detail = fmt.Sprintf("%d command(s)", len(d.Capabilities.Commands))
	return r
}

// SendCommand is the host's SendCommand of the adapter (see [Direct]): its Params are
// encoded and then decoded and normalized (ints become float64, °F becomes °C, and
// parameters command.Validate refuses are refused as permanent without calling the
// adapter), its ExpiresAt arrives in UTC with no monotonic clock reading, and the
// adapter's answer comes back as the host takes it: a refusal it may act on, or an
// outcome unknown.
func (d direct) SendCommand(ctx context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	return d.c.SendCommand(ctx, req)
}

// paramsAsReceived returns a command's parameters as SendCommand receives them, or why
// it never would: what Direct and the wire both do to them.
func paramsAsReceived(req sdk.CommandRequest) (command.Params, error) {
	b, err := sdk.EncodeCommandParams(req.Params)
	if err != nil {
		return nil, err
	}
	return sdk.DecodeCommandParams(req.Command, b)
}
