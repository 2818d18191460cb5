package worker

import (
	"context"
	"sync"
)

// Drain is one round of a leasing worker: it claims at most as many rows as it has free
// slots and works each in a slot of its own, until a claim returns fewer rows than it
// asked for (nothing more is due) and every slot is free again. It returns how many rows
// were claimed, and the first claim error (the rows already claimed are still worked).
//
// A slot works one row at a time, so a row's lease only has to outlast one unit of work
// (one plugin call and the transaction that records it). That is what config validation
// checks a lease against. Claiming a whole batch and working it in waves would let the
// rows late in the batch outlive their lease, and another replica could then work them
// at the same time (the same refresh token used twice). River's producer fetches the
// same way: never more jobs than it has free slots.
func Drain[T any](ctx context.Context, slots int, claim func(ctx context.Context, n int) ([]T, error), work func(ctx context.Context, row T)) (int, error) {
	slots = max(slots, 1)
	free := make(chan struct{}, slots)
	for range slots {
		free <- struct{}{}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	claimed := 0
	for ctx.Err() == nil {
		// Wait for one free slot, then take every other slot free at this moment.
		select {
		case <-free:
		case <-ctx.Done():
			return claimed, nil
		}
		n := 1
	more:
		for n < slots {
			select {
			case <-free:
				n++
			default:
				break more
			}
		}
		rows, err := claim(ctx, n)
		if err != nil {
			return claimed, err
		}
		claimed += len(rows)
		for _, r := range rows {
			wg.Add(1)
			go func() {
				defer func() { free <- struct{}{}; wg.Done() }()
				work(ctx, r)
			}()
		}
		for range n - len(rows) {
			free <- struct{}{}
		}
		if len(rows) < n {
			return claimed, nil
		}
	}
	return claimed, nil
}
