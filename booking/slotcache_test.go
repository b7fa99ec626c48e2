package booking

import (
	"testing"
	"time"
)

func TestSlotCache(t *testing.T) {
	c := newSlotCache(time.Second)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	if _, ok := c.get(1, "", t0); ok {
		t.Fatal("hit on an empty cache")
	}
	c.put(1, "", slotEntry{at: t0, tz: "Asia/Shanghai", date: "2026-03-01", slots: []slotJSON{{ID: 7}}})
	c.put(1, "2026-03-02", slotEntry{at: t0})
	c.put(2, "", slotEntry{at: t0})
	if e, ok := c.get(1, "", t0.Add(500*time.Millisecond)); !ok || e.slots[0].ID != 7 {
		t.Fatal("miss within the TTL")
	}
	if _, ok := c.get(1, "", t0.Add(time.Second)); ok {
		t.Fatal("hit after the TTL")
	}
	if _, ok := c.get(1, "", t0.Add(-time.Second)); ok {
		t.Fatal("hit from the future")
	}
	c.dropBooth(1)
	if _, ok := c.get(1, "2026-03-02", t0); ok || c.n != 1 {
		t.Fatalf("drop left booth 1 (n=%d)", c.n)
	}
	if _, ok := c.get(2, "", t0); !ok {
		t.Fatal("drop took another booth")
	}
	for i := int64(0); i < maxSlotCache+10; i++ {
		c.put(i+10, "", slotEntry{at: t0})
	}
	if c.n > maxSlotCache {
		t.Fatalf("cache grew to %d", c.n)
	}
	var off *slotCache
	off.put(1, "", slotEntry{})
	if _, ok := off.get(1, "", t0); ok {
		t.Fatal("nil cache hit")
	}
}
