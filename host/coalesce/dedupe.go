package coalesce

import "time"

// dedupeKey scopes message ids to their session, so two channels that number
// their messages independently never collide.
type dedupeKey struct {
	session string
	id      string
}

type dedupeEntry struct {
	key     dedupeKey
	seen    time.Time
	receipt *Receipt
}

// dedupeCache remembers message ids for a TTL. Entries expire in the order
// they were added, so memory is bounded by the ids added within one TTL plus
// those added since the last prune. It is not safe for concurrent use: the
// Coalescer's lock guards it.
type dedupeCache struct {
	entries map[dedupeKey]*dedupeEntry
	// order lists entries by seen time from order[head] on. An entry whose
	// key was added again after it expired stays here until pruned, and
	// prune compares pointers to skip the live entry's key.
	order []*dedupeEntry
	head  int
}

func newDedupeCache() *dedupeCache {
	return &dedupeCache{entries: make(map[dedupeKey]*dedupeEntry)}
}

// lookup returns the live entry for k, or nil when k is unknown or was seen
// ttl or longer before now.
func (d *dedupeCache) lookup(k dedupeKey, now time.Time, ttl time.Duration) *dedupeEntry {
	e := d.entries[k]
	if e == nil || !now.Before(e.seen.Add(ttl)) {
		return nil
	}
	return e
}

// add records k as seen at now, carried by receipt r.
func (d *dedupeCache) add(k dedupeKey, now time.Time, r *Receipt) {
	e := &dedupeEntry{key: k, seen: now, receipt: r}
	d.entries[k] = e
	d.order = append(d.order, e)
}

// prune drops the entries seen ttl or longer before now.
func (d *dedupeCache) prune(now time.Time, ttl time.Duration) {
	for d.head < len(d.order) {
		e := d.order[d.head]
		if now.Before(e.seen.Add(ttl)) {
			break
		}
		if d.entries[e.key] == e {
			delete(d.entries, e.key)
		}
		d.order[d.head] = nil
		d.head++
	}

	// Compact once half the slice is dead, so appends reuse the space.
	if d.head > 0 && d.head*2 >= len(d.order) {
		n := copy(d.order, d.order[d.head:])
		clear(d.order[n:])
		d.order = d.order[:n]
		d.head = 0
	}
}

// oldest returns the seen time of the oldest entry and true, or false when
// the cache is empty.
func (d *dedupeCache) oldest() (time.Time, bool) {
	if d.head >= len(d.order) {
		return time.Time{}, false
	}
	return d.order[d.head].seen, true
}

// len returns the number of live ids.
func (d *dedupeCache) len() int { return len(d.entries) }
