// Package ondilo is the poolhost adapter for Ondilo ICO pool sensors, through Ondilo's
// official customer API (OAuth2 authorization code, poll only).
//
// Settings (all optional):
//   - base_url  default https://interop.ondilo.com; both the OAuth endpoints and the API
//     (/api/customer/v1) hang off it, so a test or staging account can point elsewhere.
//   - client_id default customer_api (Ondilo's public client; the client secret is empty,
//     an optional client_secret secret is sent when configured).
//
// Credentials the host stores per account: access_token, refresh_token and expiry
// (RFC 3339, UTC). Access tokens live an hour and refresh tokens do not expire, so the
// adapter refreshes when the stored expiry has passed and once more on a 401, and hands
// the new set back as RefreshedCredentials — on the error (sdk.WithRefreshedCredentials)
// when a later request of the same call fails. A refresh the token endpoint rejects (400
// or 401) means the user revoked the grant: the call fails with a reauth error — unless
// the answer is the over-quota body, which is temporary like any quota answer.
//
// Choices worth knowing:
//   - External account id. The refresh token is a secret and Ondilo's /user/info gives
//     no user id, so an account with pools is identified by its oldest pool:
//     "pool:<lowest pool id>". Pool ids are integers Ondilo assigns in increasing order,
//     so adding pools keeps the id; it changes only if the user deletes that very pool.
//     An account with no pool yet is identified by its user, from GET /user/info
//     ({"lastname", "firstname", "email"}): "user:" and the hex SHA-256 (first 16 bytes)
//     of the lowercased email, so the address itself is not spread with the id. When
//     that account later has a pool, it keeps its id (the host never changes an
//     account's id); a reconnect then identifies it as "pool:<id>" with the user's id as
//     an alternate (sdk.Linkage.AlternateAccountIDs), so the host renews the account
//     linked before instead of linking a second one. Every callback with pools asks
//     /user/info for that alternate (one more request); if it fails the linkage is as
//     before, without one. Without /user/info (404) an account with no pool cannot
//     connect: an invalid-input error says to add the ICO to a pool first.
//     Caveat: a pool shared with the user appears in their /pools too, so two Ondilo
//     users sharing a pool can get the same id; it identifies an account within one
//     poolhost user's links, not globally.
//   - Device ids are the ICO's uuid from /pools/{id}/device; the pool id, serial number and
//     firmware version go into the device metadata.
//   - Readings come from /pools/{id}/lastmeasures only. /pools/{id}/configuration holds
//     the user's target ranges (pool policy) and is never read as measurements.
//   - Cursor: JSON {"v":1,"pools":{"<pool id>":{"device":"<uuid>","device_checked_at":…,
//     "seen":{"<data_type>":<latest value_time returned>},"read_at":…}}}. Only measures
//     strictly newer than "seen" are returned, per pool and per data type because the
//     battery and signal values do not always share the water measures' timestamp. A
//     pool an answer does not list keeps its entry (and its place in the rotation: it
//     comes first when listed again, its seen measures not returned twice). The cursor
//     also caches each pool's device uuid (rechecked daily) so that reading a pool costs
//     one request instead of two, keeps "calls": [{"at", "n"}], the polls of the last
//     hour and the requests each made, and each pool's "read_at", when a poll last read
//     it. "read_at" came with the rotation; a cursor without it (written before) stays
//     version 1 and reads as pools never read: they come first, by pool id.
//   - Quota: 30 requests/hour and 5/second per user. A call spaces its requests 250 ms
//     apart so a poll of several pools does not burst past 5/second. Over quota (HTTP 429 or a body
//     {"message":"Limit Exceeded"}, whatever the status, the token endpoint's too) is a
//     temporary error, carrying the answer's Retry-After,
//     if any (a 503's too), so that the host polls the account no sooner. The ICO measures
//     once an hour; the minimum poll interval is 15 minutes.
//   - Rotation. The polls of an account spend at most 27 requests in any hour (the quota
//     less 3 for the user's own discovery or reconnect), counted from the cursor's
//     "calls" — a poll that fails part-way too: its error carries (sdk.WithNextCursor)
//     the cursor it was given with its requests added, nothing else, and the host
//     stores it with the failure. A poll costs /pools and one request per pool it
//     reads, two for a pool
//     whose ICO it looks for (never found yet, or its daily recheck), so an account of
//     more than 26 pools cannot be read in one poll: a poll reads the pools in rotation,
//     the one read longest ago first (a pool never read, such as one just added, before
//     any, and its ICO found before its measures), until the hour's budget is spent;
//     the next poll goes on from there. Daily rechecks are made as their pools come round,
//     at most 3 a poll, so that the rechecks of pools first found in the same few hours
//     spread over the following polls (40 pools: all within 38 hours of the first find,
//     then a day apart) instead of halving one poll's reads. A poll's NotBefore is no
//     sooner than the next poll fits in the budget: the list and every pool it would
//     read, or the hour's whole budget when that is more — one poll an hour, not four
//     small ones each spending a request on the list. A poll made before that anyway,
//     when not even the list and one pool fit, asks nothing and returns the cursor as it
//     was. Guarantee, with the host polling at NotBefore: a poll reads at least 23 pools
//     (the budget less the list and 3 rechecks; a pool just added costs one more), or
//     all of them, so each of N pools is read at least every ⌈N/23⌉ polls — every poll
//     up to 23 pools — and past 26 pools the polls come an hour apart, each spending
//     the budget: 40 pools are each read at least every 2 hours, 100 every 5. That is
//     after the first rotation, which finds every ICO at two requests a pool (40 pools:
//     3 hours). Past 26 pools an ICO
//     measures more often than it is read, and /lastmeasures has only its newest
//     measure: the measures between two reads are not fetched (each read returns what
//     is new since the last one, none twice). ICOs that stopped measuring are polled
//     every interval the budget allows, like the others.
//     Limit: a discovery (the user's device refresh) costs /pools and one request per
//     pool, outside the polls' ledger (it is handed no cursor), and the 3 requests
//     kept back cover only 2 pools. Where the polls spend most of the hour (about a
//     dozen pools or more), a discovery can take the hour past 30: it, or the polls
//     after it, fail on the 429 (temporary, its Retry-After kept) until the hour has
//     passed, and an ICO's measure replaced meanwhile is not fetched.
//   - rssi is a signal strength in percent (not dBm) and becomes the signal metric in %.
//   - Pool configuration: /pools gives each pool's volume (m³), type and disinfection.
//     Discovery hands them over as the device's Suggested pool configuration (liters,
//     pool or spa, outdoor or indoor, sanitizer), which the host applies only when the
//     user accepts it; they are never readings.
package ondilo
