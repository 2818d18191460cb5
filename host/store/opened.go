package store

import (
	"crypto/subtle"
	"maps"
	"sync"
)

// openedCredentials remembers the credentials AccountWithCredentials last opened for
// each account, so that an account-scoped webhook delivery does not decrypt and decode
// the same ciphertext again: its row is still read for every delivery (a disconnected
// account, another provider's, is not found at once, on every replica), and what was
// opened is used only while the row carries the very same ciphertext, byte for byte,
// under the same identity (the AAD's user, provider and external id). Every change of
// credentials (a rotated webhook secret, refreshed tokens, a reconnect, a rewrap) seals
// them again under a fresh nonce, so the row's new ciphertext is opened afresh. The
// previous webhook secret's end is still judged on the store's clock for every call
// (retirePreviousSecret, on a copy).
//
// A miss (no live account of that id and provider) goes through the same steps with the
// decoy (openDecoy), under its own (id, provider) entry: the first delivery to an id
// decrypts, hit or miss, and the next ones to it do not, hit or miss, so the public URL
// still does not tell by timing which ids exist. Its bounded size means that ids sprayed
// at the URL can only make real accounts' next deliveries decrypt again, as before.
type openedCredentials struct {
	mu sync.Mutex
	m  map[openedKey]*opened
}

// maxOpened bounds the entries; past it, one is dropped for each new one.
const maxOpened = 4096

type openedKey struct {
	id       int64
	provider string
}

// opened is a ciphertext, the identity it is bound to and what it opened to. creds is
// never handed out, only copies of it.
type opened struct {
	row   sealedAccount
	creds map[string]string
}

// open returns row's credentials (a copy the caller owns), opened by q unless key's
// entry holds the same ciphertext of the same identity.
func (o *openedCredentials) open(q queries, key openedKey, row sealedAccount) (map[string]string, error) {
	if o == nil {
		return q.openCredentials(key.id, row)
	}
	o.mu.Lock()
	e := o.m[key]
	o.mu.Unlock()
	if e != nil && e.row.UserID == row.UserID && e.row.Provider == row.Provider && e.row.ExternalID == row.ExternalID &&
		subtle.ConstantTimeCompare(e.row.Ciphertext, row.Ciphertext) == 1 {
		return maps.Clone(e.creds), nil
	}
	creds, err := q.openCredentials(key.id, row)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		delete(o.m, key)
		return nil, err
	}
	if _, ok := o.m[key]; !ok && len(o.m) >= maxOpened {
		for k := range o.m { // an arbitrary one: map iteration order is random
			delete(o.m, k)
			break
		}
	}
	row.Ciphertext = append([]byte(nil), row.Ciphertext...) // not the caller's buffer
	o.m[key] = &opened{row: row, creds: maps.Clone(creds)}
	return creds, nil
}

// forget drops what was opened for an account (its credentials erased).
func (o *openedCredentials) forget(id int64) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for k := range o.m {
		if k.id == id {
			delete(o.m, k)
		}
	}
}

// clear forgets everything (the store closes).
func (o *openedCredentials) clear() {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.m)
}
