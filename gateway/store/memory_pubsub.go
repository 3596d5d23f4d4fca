package store

import (
	"context"
	"sync"
)

// memSub is one Subscribe on a Memory: an unbounded queue drained by one
// goroutine, so Publish never blocks on a slow subscriber (nor deadlocks
// when fn itself publishes).
type memSub struct {
	fn     func(msg []byte)
	notify chan struct{} // capacity 1: "the queue is not empty"

	mu    sync.Mutex
	queue [][]byte
}

// push appends msg to the queue and wakes the goroutine.
func (s *memSub) push(msg []byte) {
	s.mu.Lock()
	s.queue = append(s.queue, msg)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// take empties the queue.
func (s *memSub) take() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// Publish hands a copy of msg to every current subscriber of channel on m.
// It does not wait for them.
func (m *Memory) Publish(ctx context.Context, channel string, msg []byte) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	m.subMu.RLock()
	defer m.subMu.RUnlock()
	for s := range m.subs[channel] {
		s.push(clone(msg))
	}
	return nil
}

// Subscribe registers fn for channel and returns; fn then runs on one
// goroutine, in publish order, until ctx ends or m is closed. No message is
// handed to fn after ctx is done.
func (m *Memory) Subscribe(ctx context.Context, channel string, fn func(msg []byte)) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	s := &memSub{fn: fn, notify: make(chan struct{}, 1)}
	m.subMu.Lock()
	if m.closed.Load() { // Close raced with the check above
		m.subMu.Unlock()
		return ErrClosed
	}
	if m.subs[channel] == nil {
		m.subs[channel] = make(map[*memSub]struct{})
	}
	m.subs[channel][s] = struct{}{}
	m.subMu.Unlock()
	go m.deliver(ctx, channel, s)
	return nil
}

// deliver runs s.fn for each queued message until ctx ends or m closes.
func (m *Memory) deliver(ctx context.Context, channel string, s *memSub) {
	defer m.unsubscribe(channel, s)
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stop:
			return
		case <-s.notify:
			for _, msg := range s.take() {
				if ctx.Err() != nil || m.closed.Load() {
					return
				}
				s.fn(msg)
			}
		}
	}
}

// unsubscribe forgets s.
func (m *Memory) unsubscribe(channel string, s *memSub) {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	delete(m.subs[channel], s)
	if len(m.subs[channel]) == 0 {
		delete(m.subs, channel)
	}
}
