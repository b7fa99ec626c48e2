package booking

import (
	"sync"
	"time"
)

// slotCache keeps recent answers of the booth-day free-slot read, the
// hottest read of a fair day, for a second. The database stays the only
// judge: a slot taken on another node may show as free for up to the TTL,
// and booking it then gets the usual 409 with alternatives. Writes on this
// node drop the booth's entries at once.
type slotCache struct {
	ttl time.Duration

	mu sync.Mutex
	m  map[int64]map[string]slotEntry // booth -> requested date ("" = the fair's day)
	n  int
}

type slotEntry struct {
	at    time.Time
	tz    string
	date  string
	slots []slotJSON // free then, in UTC; never mutated after caching

	// The answer as sent, plain and gzipped, made once when cached: it is
	// the same for every request until the first listed slot starts
	// (bodyUntil; zero when the list is empty), when that slot must drop
	// out of it. A hit then costs no encoding and no compression.
	body, gz  []byte
	bodyUntil time.Time
}

// maxSlotCache bounds the map; a full map is simply emptied.
const maxSlotCache = 50_000

func newSlotCache(ttl time.Duration) *slotCache {
	return &slotCache{ttl: ttl, m: make(map[int64]map[string]slotEntry)}
}

func (c *slotCache) get(booth int64, date string, now time.Time) (slotEntry, bool) {
	if c == nil || c.ttl <= 0 {
		return slotEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[booth][date]
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		return slotEntry{}, false
	}
	return e, true
}

func (c *slotCache) put(booth int64, date string, e slotEntry) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= maxSlotCache {
		clear(c.m)
		c.n = 0
	}
	days := c.m[booth]
	if days == nil {
		days = make(map[string]slotEntry, 1)
		c.m[booth] = days
	}
	if _, ok := days[date]; !ok {
		c.n++
	}
	days[date] = e
}

// dropBooth forgets every cached day of a booth (a booking, a cancellation
// or an availability change on this node).
func (c *slotCache) dropBooth(booth int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n -= len(c.m[booth])
	delete(c.m, booth)
}

// factsCache keeps what does not change about a slot once it exists: its
// booth, lane and time, the booth's employer (id and name), its fair's
// time zone (no API changes them), and the booth's daily cap
// (set when the booth is created; the reservation statement checks it is
// still the cached one). It is slotInfo without open, fair status and
// window, which can change, and without the seeker. A booking of cached
// slots skips the slot lookup: the reservation statement itself checks
// that the slot is open (the bookings_defaults trigger), the fair published
// and its booking window open, the cap unchanged, and that the seeker
// exists (the foreign key); a refusal forgets the slots and tries once more
// the uncached way, which reads everything and says why. A miss fills the facts of
// every slot of the booth, so a booth's next booking needs no lookup.
type factsCache struct {
	mu sync.Mutex
	m  map[int64]slotInfo // slot id -> facts; never mutated after caching
}

// maxFactsCache bounds the map (a city fair has about 100,000 slots); a
// full map is simply emptied.
const maxFactsCache = 400_000

func newFactsCache() *factsCache { return &factsCache{m: make(map[int64]slotInfo)} }

// get returns the facts of every id, in order, or false if one is missing.
func (c *factsCache) get(ids []int64) ([]slotInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]slotInfo, len(ids))
	for i, id := range ids {
		sl, ok := c.m[id]
		if !ok {
			return nil, false
		}
		out[i] = sl
	}
	return out, true
}

// forget drops ids (their booth's cap changed, or the fair refused).
func (c *factsCache) forget(ids []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.m, id)
	}
}

func (c *factsCache) put(sls []slotInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m)+len(sls) > maxFactsCache {
		clear(c.m)
	}
	for _, sl := range sls {
		c.m[sl.id] = slotInfo{id: sl.id, boothID: sl.boothID, lane: sl.lane, start: sl.start, end: sl.end, employerID: sl.employerID,
			employerName: sl.employerName, dailyCap: sl.dailyCap, timeZone: sl.timeZone}
	}
}
