package worker

// Outcome is how the work on one claimed row ended. Both workers count and label their
// metrics with these, so that a lost lease is never confused with a database error.
type Outcome int

const (
	// Succeeded: the work is committed and the lease released.
	Succeeded Outcome = iota
	// Failed: the attempt failed, was recorded, and the row backs off.
	Failed
	// Dead: the row is out of attempts (retry) and waits for an operator.
	Dead
	// Reauth: the provider rejected the account's credentials (poll).
	Reauth
	// LeaseLost: the lease was no longer this worker's when it recorded the outcome
	// (it expired and another worker claimed the row); nothing was committed.
	LeaseLost
	// StoreError: recording the outcome failed in the database; the lease runs out and
	// the row comes back.
	StoreError
	// Abandoned: the worker is stopping and cut the work short; the lease brings the
	// row back.
	Abandoned
	// Released: the worker is stopping, cut the work short and handed the row back at
	// once, unattempted (Release: dead letters, polls; never a command send).
	Released
)

// String is the outcome's metric label.
func (o Outcome) String() string {
	switch o {
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	case Dead:
		return "dead"
	case Reauth:
		return "reauth"
	case LeaseLost:
		return "lease_lost"
	case StoreError:
		return "store_error"
	case Abandoned:
		return "abandoned"
	case Released:
		return "released"
	}
	return "unknown"
}

// MaxErrorBytes bounds an error message kept in a row (last_error, the history): a
// plugin or upstream can return a whole HTML page.
const MaxErrorBytes = 2000

// TruncateError returns msg cut to MaxErrorBytes, marked with "…" when cut, never in the
// middle of a UTF-8 sequence.
func TruncateError(msg string) string {
	if len(msg) <= MaxErrorBytes {
		return msg
	}
	cut := MaxErrorBytes
	for cut > 0 && !utf8RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
