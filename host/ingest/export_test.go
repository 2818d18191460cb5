package ingest

// Queued is how many requests wait for the transaction in flight to end (tests).
func (s *Service) Queued() int {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return len(s.batch.queue)
}

// MinShared is how many waiting requests start a second write beside one in flight.
const MinShared = minShared

// MinSharedFloor is the fewest waiting requests that start another write.
const MinSharedFloor = minSharedFloor
