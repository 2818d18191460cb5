package judge

import (
	"time"

	"github.com/poolhost/poolhost/sdk"
)

// A poll's answer holds more than a webhook's: the cursor the host stores for the next
// poll and the tokens the plugin refreshed. The host (host/pluginmgr) and the kit
// (sdktest's poll checks) both judge it here, so they refuse the same answers and, of an
// answer that breaks several caps, name the same one first, in the same words.

// PollAnswer is the Answer of a poll's result: the parts the host stores.
func PollAnswer(res sdk.PollResult) Answer {
	return Answer{Readings: res.Readings, TestSessions: res.TestSessions, CommandUpdates: res.CommandUpdates, Polled: true}
}

// CheckPoll is Check for a poll's answer: nil when res is within c, else the *Refusal of
// the first cap it breaks, in this order:
//   - its refreshed credentials ([Caps.CheckCredentials]) first, since that refusal alone
//     changes what the host keeps: tokens over the cap are dropped with the answer
//     ([CapCredentials]), while on any other refusal they are still the account's;
//   - the readings, test sessions and command updates ([Caps.Check] of [PollAnswer]);
//   - its cursor ([Caps.CheckCursor]).
//
// Unset caps in c take their defaults.
func (c Caps) CheckPoll(res sdk.PollResult) error {
	c = c.WithDefaults()
	if err := c.CheckCredentials(res.RefreshedCredentials); err != nil {
		return err
	}
	if err := c.Check(PollAnswer(res)); err != nil {
		return err
	}
	return c.CheckCursor(res.NextCursor)
}

// JudgePoll is [Judge] for a poll's answer: [Caps.CheckPoll], then [Reading] and [Session]
// for each part, against receivedAt (when the poll's answer came in) and w. Its verdict's
// Problems take [PollAnswer](res).
func JudgePoll(c Caps, w Window, receivedAt time.Time, res sdk.PollResult) Verdict {
	if err := c.CheckPoll(res); err != nil {
		return Verdict{Refused: err}
	}
	return parts(w, receivedAt, PollAnswer(res))
}
