package booking

import "context"

// GroupForTest runs one group statement for single-slot bookings of
// seekers[i] on slots[i] (as the combiner would) and reports which were
// inserted.
func GroupForTest(ctx context.Context, s *Service, seekers, slots []int64) ([]bool, error) {
	batch := make([]*groupReq, len(slots))
	for i := range slots {
		sls, _, err := s.loadSlots(ctx, s.pool, seekers[i], slots[i:i+1])
		if err != nil {
			return nil, err
		}
		batch[i] = &groupReq{slot: sls[0], seekerID: seekers[i], status: "booked", origin: "self", logKind: KindBookingMade,
			logData: []byte(`{}`), event: EventBookingCreated}
	}
	s.runGroup(ctx, batch)
	out := make([]bool, len(batch))
	for i, r := range batch {
		out[i] = r.inserted
	}
	return out, nil
}
