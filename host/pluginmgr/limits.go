package pluginmgr

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/judge"
)

// What a plugin answers is judged by sdk/judge, the package the conformance kit calls
// too: an answer over a cap in config.Plugins is refused whole as a permanent failure of
// that call (a webhook is dead-lettered with its raw request, a poll fails without moving
// its cursor, a discovery stores no device and the user hears which cap), so nothing of
// it is stored and an operator sees why.

// checkAnswer returns the name of the first cap the answer exceeds and an error saying
// by how much, or "" and nil.
func checkAnswer(lim judge.Caps, deliveryID, accountID string, rs []sdk.Reading, ss []sdk.TestSession, us []sdk.CommandUpdate) (string, error) {
	err := lim.Check(judge.Answer{DeliveryID: deliveryID, ProviderAccountID: accountID, Readings: rs, TestSessions: ss, CommandUpdates: us})
	return judge.CapOf(err), err
}

// judgeCaps is the host's caps as sdk/judge takes them.
func judgeCaps(lim config.Plugins) judge.Caps {
	return judge.Caps{
		MaxMessageBytes: lim.MaxMessageBytes, MaxReadingsPerCall: lim.MaxReadingsPerCall,
		MaxDeviceIDBytes: lim.MaxDeviceIDBytes, MaxDeliveryIDBytes: lim.MaxDeliveryIDBytes,
		MaxMetricBytes: lim.MaxMetricBytes, MaxUnitBytes: lim.MaxUnitBytes, MaxRawPayloadBytes: lim.MaxRawPayloadBytes,
		MaxDevicesPerCall: lim.MaxDevicesPerCall, MaxDeviceNameBytes: lim.MaxDeviceNameBytes,
	}.WithDefaults()
}

// checkDevices is checkAnswer for a discovery: the devices it lists are stored as they
// are, one row and one audit row each.
func checkDevices(lim judge.Caps, ds []sdk.Device) (string, error) {
	err := lim.CheckDevices(ds)
	return judge.CapOf(err), err
}

// refuseAnswer checks an answer, counting a refusal by the cap it broke.
func (p *Plugin) refuseAnswer(method, deliveryID, accountID string, rs []sdk.Reading, ss []sdk.TestSession, us []sdk.CommandUpdate) error {
	return p.refuse(method, func(lim judge.Caps) (string, error) {
		return checkAnswer(lim, deliveryID, accountID, rs, ss, us)
	})
}

// refuseDevices checks a discovery's answer, counting a refusal by the cap it broke.
func (p *Plugin) refuseDevices(method string, ds []sdk.Device) error {
	return p.refuse(method, func(lim judge.Caps) (string, error) { return checkDevices(lim, ds) })
}

// refuseLinkage checks the account a connect or callback links, counting a refusal by
// the cap it broke.
func (p *Plugin) refuseLinkage(method string, l sdk.Linkage) error {
	return p.refuse(method, func(lim judge.Caps) (string, error) {
		err := lim.CheckLinkage(l)
		return judge.CapOf(err), err
	})
}

// refuseDescription checks a plugin's Describe answer (judge.CheckDescription), counting
// a refusal: the host keeps it for the plugin's life and shows it to operators and users.
func (p *Plugin) refuseDescription(d sdk.Description) error {
	return p.refuse("describe", func(judge.Caps) (string, error) {
		err := judge.CheckDescription(d)
		return judge.CapOf(err), err
	})
}

// refuseAuthorizeURL checks the authorize URL a connect answers (judge.CheckAuthorizeURL),
// counting a refusal: the user is sent to it.
func (p *Plugin) refuseAuthorizeURL(method, u string) error {
	return p.refuse(method, func(judge.Caps) (string, error) {
		err := judge.CheckAuthorizeURL(u)
		return judge.CapOf(err), err
	})
}

// refuseCredentials checks the credentials a call hands back refreshed, counting a
// refusal. Over the cap they are not the account's to store: they would replace its
// credentials whole and go out on every later call.
func (p *Plugin) refuseCredentials(method string, creds sdk.Credentials) error {
	if creds == nil {
		return nil
	}
	return p.refuse(method, func(lim judge.Caps) (string, error) {
		err := lim.CheckCredentials(creds)
		return judge.CapOf(err), err
	})
}

// refusePoll checks a poll's answer (judge.Caps.CheckPoll: its refreshed credentials, the
// parts it stores, its cursor, in the order the conformance kit names them too), counting
// a refusal by the first cap it broke.
func (p *Plugin) refusePoll(method string, res sdk.PollResult) error {
	return p.refuse(method, func(lim judge.Caps) (string, error) {
		err := lim.CheckPoll(res)
		return judge.CapOf(err), err
	})
}

// capErrorCredentials takes off a failed call's error the credentials the plugin put on
// it (sdk.WithRefreshedCredentials) when they are over the cap, counting the refusal;
// the error itself stands, as the call's outcome.
func (p *Plugin) capErrorCredentials(method string, err error) error {
	creds, ok := sdk.RefreshedCredentialsOf(err)
	if !ok || p.refuseCredentials(method, creds) == nil {
		return err
	}
	return withoutCredentials(err)
}

// withoutCredentials is err without the credentials sdk.WithRefreshedCredentials put in
// its chain: the same text, and every other error of the chain still found by errors.Is
// and errors.As.
func withoutCredentials(err error) error {
	if _, ok := sdk.RefreshedCredentialsOf(err); !ok {
		return err
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		inner := u.Unwrap()
		if _, ok := sdk.RefreshedCredentialsOf(inner); !ok {
			return inner // err is the credentials' own wrapper, whose text is inner's
		}
		return &rewrapped{msg: err.Error(), errs: []error{withoutCredentials(inner)}}
	case interface{ Unwrap() []error }:
		var errs []error
		for _, e := range u.Unwrap() {
			errs = append(errs, withoutCredentials(e))
		}
		return &rewrapped{msg: err.Error(), errs: errs}
	}
	return err
}

// MaxErrorTextBytes bounds the text of a failed call's error. A plugin's message is
// its own (a plugin may relay what its provider's cloud answered, a whole HTML page) and
// may be as long as a gRPC message (max_message_bytes, 16 MiB); every caller logs the
// error, some on every request a user makes. Where the host shows the plugin's message
// it has its own, smaller caps.
const MaxErrorTextBytes = 4096

// clipError is err with its text cut to MaxErrorTextBytes (on a character boundary,
// "…" after), every error of its chain still found by errors.Is and errors.As.
func clipError(err error) error {
	msg := err.Error()
	if len(msg) <= MaxErrorTextBytes {
		return err
	}
	cut := MaxErrorTextBytes
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return &clipped{msg: msg[:cut] + "…", err: err}
}

// clipped is an error whose text clipError shortened.
type clipped struct {
	msg string
	err error
}

func (e *clipped) Error() string { return e.msg }
func (e *clipped) Unwrap() error { return e.err }

// rewrapped stands for a wrapper withoutCredentials rebuilt: its text, and its wrapped
// errors with the credentials taken off.
type rewrapped struct {
	msg  string
	errs []error
}

func (e *rewrapped) Error() string   { return e.msg }
func (e *rewrapped) Unwrap() []error { return e.errs }

// refuse runs check against the current caps; the one place a refusal is counted and
// logged, whatever the call.
func (p *Plugin) refuse(method string, check func(judge.Caps) (string, error)) error {
	p.mu.Lock()
	lim := p.caps
	p.mu.Unlock()
	limit, err := check(lim)
	if err != nil {
		p.m.metrics.refused.WithLabelValues(p.id, method, limit).Inc()
		p.m.log.Warn("plugin answer refused", "provider", p.id, "method", method, "limit", limit, "error", err)
	}
	return err
}

// maxMessage caps the messages the host accepts from the plugin (grpcplugin.MaxMessage,
// which the conformance kit dials with too), counting each refusal.
func (p *Plugin) maxMessage(max int64) []grpc.DialOption {
	max = caps(config.Plugins{MaxMessageBytes: max}).MaxMessageBytes
	return grpcplugin.MaxMessage(max, func(method string) {
		p.m.metrics.refused.WithLabelValues(p.id, callName(method), "message").Inc()
	})
}

// caps returns lim with every unset (zero) cap at its default, for configs built in code.
func caps(lim config.Plugins) config.Plugins {
	c := judgeCaps(lim)
	lim.MaxMessageBytes, lim.MaxReadingsPerCall = c.MaxMessageBytes, c.MaxReadingsPerCall
	lim.MaxDeviceIDBytes, lim.MaxDeliveryIDBytes = c.MaxDeviceIDBytes, c.MaxDeliveryIDBytes
	lim.MaxMetricBytes, lim.MaxUnitBytes, lim.MaxRawPayloadBytes = c.MaxMetricBytes, c.MaxUnitBytes, c.MaxRawPayloadBytes
	lim.MaxDevicesPerCall, lim.MaxDeviceNameBytes = c.MaxDevicesPerCall, c.MaxDeviceNameBytes
	return lim
}

// callName turns a gRPC method ("/pkg.Adapter/IngestWebhook") into the name the host's
// calls go by ("ingest_webhook"), so every metric labels a method the same way.
func callName(grpcMethod string) string {
	name := grpcMethod[strings.LastIndexByte(grpcMethod, '/')+1:]
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
