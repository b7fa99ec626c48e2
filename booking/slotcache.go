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
