package ingest

// What a sender hears about its drops is not what operators see. On an account-scoped
// URL, "foreign_device" would tell whoever holds one account's secret that some other
// user has a device with that id — an oracle for guessing other users' serial numbers.
// The sender hears "unknown_device" for both; the audit row (webhook.received) and
// poolhost_readings_dropped_total keep the distinction.

// ReportedReason is the drop reason a sender is told for reason: the one mapping from
// what happened to what may be said.
func ReportedReason(reason string) string {
	if reason == DropForeignDevice {
		return DropUnknownDevice
	}
	return reason
}

// Reported is r as its sender may see it: every drop reason passed through
// ReportedReason, for readings and test sessions alike. r is not changed.
func (r Result) Reported() Result {
	out := r
	out.Dropped = reportedCounts(r.Dropped)
	if r.TestSessions != nil {
		ts := *r.TestSessions
		ts.Dropped = reportedCounts(r.TestSessions.Dropped)
		out.TestSessions = &ts
	}
	return out
}

func reportedCounts(in map[string]int) map[string]int {
	if in == nil {
		return nil
	}
	out := make(map[string]int, len(in))
	for reason, n := range in {
		out[ReportedReason(reason)] += n
	}
	return out
}
