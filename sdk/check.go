package sdk

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// CheckID is the SDK's one rule for an identifier a plugin hands the host: a device id,
// an account id, a delivery id, a command's provider reference. It must be valid UTF-8
// without U+FFFD: encoding/json decodes invalid bytes of an upstream answer into that
// replacement character, so such an id is a lossy copy of the provider's, which would
// never match the device again and could collide with another's. Control characters are
// refused too: ids end up in logs, the console and audit rows.
//
// The SDK checks every result with it before the host sees it (see [PollResult.Check]),
// so each plugin gets the rule without calling it; plugin tests may call it too.
func CheckID(what, id string) error {
	if problem := idProblem(id); problem != "" {
		return Permanent("%s %s %s", what, quoteID(id), problem)
	}
	return nil
}

// idProblem is what CheckID's rule finds wrong with id, "" when nothing is. The checks
// of a result's many ids call it first and format an id's label (which reading it is)
// only for one it refuses: formatting the label of every reading was 10 of the generic
// plugin's 212 allocations per 10-reading delivery (host/bench).
func idProblem(id string) string {
	if !utf8.ValidString(id) {
		return "is not valid UTF-8"
	}
	for _, r := range id {
		if r == utf8.RuneError {
			return "holds U+FFFD, the mark of bytes that were not valid UTF-8"
		}
		if unicode.IsControl(r) {
			return "holds a control character"
		}
	}
	return ""
}

// quoteID shows an id in an error: escaped, and cut short.
func quoteID(id string) string {
	if len(id) > 64 {
		id = id[:64]
	}
	return fmt.Sprintf("%+q", id)
}

// Check applies [CheckID] to every id of the result.
func (r PollResult) Check() error {
	if err := checkReadings(r.Readings); err != nil {
		return err
	}
	if err := checkSessions(r.TestSessions); err != nil {
		return err
	}
	return checkUpdates(r.CommandUpdates)
}

// Check applies [CheckID] to every id of the result.
func (r WebhookResult) Check() error {
	if err := CheckID("delivery id", r.DeliveryID); err != nil {
		return err
	}
	if err := CheckID("provider account id", r.ProviderAccountID); err != nil {
		return err
	}
	if err := checkReadings(r.Readings); err != nil {
		return err
	}
	if err := checkSessions(r.TestSessions); err != nil {
		return err
	}
	return checkUpdates(r.CommandUpdates)
}

// Check applies [CheckID] to every device id of the result.
func (r DiscoverResult) Check() error {
	for i, d := range r.Devices {
		if err := CheckID(fmt.Sprintf("device %d: device id", i), d.ProviderDeviceID); err != nil {
			return err
		}
	}
	return nil
}

// Check applies [CheckID] to the external account id and to each alternate one, and
// bounds how many alternates there are.
func (l Linkage) Check() error {
	if err := CheckID("external account id", l.ExternalAccountID); err != nil {
		return err
	}
	if n := len(l.AlternateAccountIDs); n > MaxAlternateAccountIDs {
		return Permanent("%d alternate account ids, over %d", n, MaxAlternateAccountIDs)
	}
	for i, id := range l.AlternateAccountIDs {
		if id == "" {
			return Permanent("alternate account id %d is empty", i)
		}
		if err := CheckID(fmt.Sprintf("alternate account id %d", i), id); err != nil {
			return err
		}
	}
	return nil
}

// checkReadings checks each reading's device id, once for a run of readings with the
// same one (a delivery's readings are usually one device's, and == between two strings
// that share their bytes is a pointer compare): idProblem per reading was 0.8% of the
// generic plugin's CPU at postgres/c64/plugin (perf).
func checkReadings(rs []Reading) error {
	checked := false
	var last string
	for i, r := range rs {
		if checked && r.ProviderDeviceID == last {
			continue
		}
		if idProblem(r.ProviderDeviceID) != "" {
			return CheckID(fmt.Sprintf("reading %d: device id", i), r.ProviderDeviceID)
		}
		checked, last = true, r.ProviderDeviceID
	}
	return nil
}

func checkSessions(ss []TestSession) error {
	for i, s := range ss {
		if idProblem(s.ProviderDeviceID) != "" {
			return CheckID(fmt.Sprintf("test session %d: device id", i), s.ProviderDeviceID)
		}
	}
	return nil
}

func checkUpdates(us []CommandUpdate) error {
	for i, u := range us {
		if err := CheckID(fmt.Sprintf("command update %d: command id", i), u.CommandID); err != nil {
			return err
		}
		if err := CheckID(fmt.Sprintf("command update %d: provider reference", i), u.ProviderRef); err != nil {
			return err
		}
	}
	return nil
}
