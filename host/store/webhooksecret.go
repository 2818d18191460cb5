package store

import (
	"context"
	"fmt"
	"maps"
	"time"
)

// Credential keys of a rotated account webhook secret: the secret before the last
// rotation and when it stops being accepted (RFC 3339). The current secret stays under
// "webhook_secret".
const (
	PreviousWebhookSecretKey      = "webhook_secret_previous"
	PreviousWebhookSecretUntilKey = "webhook_secret_previous_until"
)

// retirePreviousSecret drops the previous webhook secret from creds once its overlap
// window is over (or when its end is unreadable): the one place that decides whether it
// is still accepted, on the store's clock.
func retirePreviousSecret(creds map[string]string, now time.Time) map[string]string {
	if creds[PreviousWebhookSecretKey] == "" {
		return creds
	}
	until, err := time.Parse(time.RFC3339Nano, creds[PreviousWebhookSecretUntilKey])
	if err != nil || !now.Before(until) {
		delete(creds, PreviousWebhookSecretKey)
		delete(creds, PreviousWebhookSecretUntilKey)
	}
	return creds
}

// RotateWebhookSecret makes secret the account's webhook secret and keeps the one it
// replaces accepted for overlap (see PreviousWebhookSecretKey), returning when that
// ends; an overlap of 0 keeps no previous secret at all (nor one kept from an earlier
// rotation). An account without a webhook secret is ErrNotFound; a disconnected one too.
func (q queries) RotateWebhookSecret(ctx context.Context, accountID int64, secret string, overlap time.Duration) (until time.Time, err error) {
	err = q.updateCredentials(ctx, accountID, func(creds map[string]string, _ int64) (map[string]string, error) {
		old := creds["webhook_secret"]
		if old == "" {
			return nil, fmt.Errorf("%w: the account has no webhook secret", ErrNotFound)
		}
		until = q.clock().Add(overlap)
		creds["webhook_secret"] = secret
		if overlap <= 0 {
			delete(creds, PreviousWebhookSecretKey)
			delete(creds, PreviousWebhookSecretUntilKey)
			return creds, nil
		}
		creds[PreviousWebhookSecretKey] = old
		creds[PreviousWebhookSecretUntilKey] = until.Format(time.RFC3339Nano)
		return creds, nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("rotate webhook secret: %w", err)
	}
	return until, nil
}

// keepWebhookSecret is refreshed credentials to store over stored ones. An account's
// own webhook secret is not a refresh's to change: when the stored credentials hold
// one, the stored secret and a rotation's previous one are kept, whatever refreshed
// says. A plugin answers the set it was called with, tokens refreshed, so a call in
// flight across a rotation would otherwise put back the secret the owner had just
// retired (accepted again, for good) and drop the one they were given; and a plugin
// answering its tokens alone would take the account's URL away.
func keepWebhookSecret(stored, refreshed map[string]string) map[string]string {
	next := maps.Clone(refreshed)
	if stored["webhook_secret"] != "" {
		for _, k := range []string{"webhook_secret", PreviousWebhookSecretKey, PreviousWebhookSecretUntilKey} {
			if v, ok := stored[k]; ok {
				next[k] = v
			} else {
				delete(next, k)
			}
		}
	}
	return next
}
