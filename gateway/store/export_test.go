package store

// MemoryLen counts the keys and the limiter states m holds, expired or
// not, without expiring anything (tests of the sweeper).
func MemoryLen(m *Memory) (items, limits int) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		items += len(s.items)
		limits += len(s.tats)
		s.mu.Unlock()
	}
	return items, limits
}
