package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// Invalidation messages on Channel are
//
//	g1 <peer> <seq> [<id> ...]
//
// peer names the publishing Store, seq numbers its messages 1, 2, 3, …
// (0: sent outside the publisher goroutine, not sequenced) and the ids are
// the sessions whose cached Records are stale. A message without ids is a
// heartbeat.
const messageVersion = "g1"

const (
	// publishTimeout bounds one Publish of the publisher goroutine.
	publishTimeout = 5 * time.Second
	// maxBatchIDs stops the publisher from gathering more requests into
	// one message.
	maxBatchIDs = 512
	// resubscribe backoff: first retry, cap.
	backoffMin = 50 * time.Millisecond
	backoffMax = 5 * time.Second
	// peerForget is how long a silent publisher is remembered.
	peerForget = 5 * time.Minute
)

// subscription is one active Subscribe on Channel. The cache may be used
// only while it is the Store's current one and done is open.
type subscription struct {
	done   <-chan struct{}
	cancel context.CancelFunc
	// ownSeen is the highest sequence number of this Store's own messages
	// the subscription has delivered.
	ownSeen atomic.Uint64
}

// live reports whether the subscription's context is still running: a
// cancelled Start context stops the cache at once, before any goroutine
// has noticed.
func (sb *subscription) live() bool {
	select {
	case <-sb.done:
		return false
	default:
		return true
	}
}

// publisher is the goroutine that sends this Store's messages, one at a
// time, so that their sequence numbers arrive in order.
type publisher struct {
	q       chan *pubReq  // unbuffered: a request is either taken or not
	stopped chan struct{} // closed when the goroutine has exited
}

// pubReq asks the publisher to announce ids (none: a heartbeat).
type pubReq struct {
	ids  []string
	done chan pubResult // capacity 1; nil when the caller does not wait
}

// pubResult is the outcome of the Publish that carried a request.
type pubResult struct {
	seq uint64
	err error
}

// Start subscribes to Channel and returns once the subscription is
// active; from then on Get may answer from the cache. It also starts the
// goroutines that publish this Store's messages and watch the
// subscription (heartbeats, resubscription with backoff). They run until
// ctx ends; then the cache is cleared and bypassed again. Start may be
// called once; an error leaves the Store usable without a cache.
func (s *Store) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("session: Start called twice")
	}
	var sub *subscription
	if s.cache != nil {
		var err error
		if sub, err = s.subscribe(ctx); err != nil {
			s.started.Store(false)
			return err
		}
	}
	p := &publisher{q: make(chan *pubReq), stopped: make(chan struct{})}
	s.pub.Store(p)
	go s.publishLoop(ctx, p)
	if sub != nil {
		s.sub.Store(sub)
		go s.supervise(ctx, sub)
	}
	return nil
}

// subscribe opens a subscription on Channel under a context of its own.
func (s *Store) subscribe(ctx context.Context) (*subscription, error) {
	sctx, cancel := context.WithCancel(ctx)
	sub := &subscription{done: sctx.Done(), cancel: cancel}
	if err := s.kv.Subscribe(sctx, Channel, s.receiver(sub)); err != nil {
		cancel()
		return nil, fmt.Errorf("session: subscribe to %s: %w", Channel, err)
	}
	return sub, nil
}

// peerState is what a receiver remembers of one publisher.
type peerState struct {
	seq  uint64
	seen time.Time
}

// receiver returns the message handler of sub. It runs on the KV's
// delivery goroutine, one message at a time.
func (s *Store) receiver(sub *subscription) func(msg []byte) {
	peers := make(map[string]*peerState)
	lastPrune := time.Now()
	return func(msg []byte) {
		peer, seq, ids, ok := parseMessage(msg)
		if !ok {
			s.cache.clear() // not ours to understand: assume the worst
			return
		}
		if seq != 0 {
			now := time.Now()
			switch p := peers[string(peer)]; {
			case p == nil:
				peers[string(peer)] = &peerState{seq: seq, seen: now}
			default:
				if seq != p.seq+1 {
					s.cache.clear()
					s.log.Warn("session: invalidation messages lost; cache cleared",
						"peer", string(peer), "want_seq", p.seq+1, "got_seq", seq)
				}
				p.seq, p.seen = seq, now
			}
			if now.Sub(lastPrune) > peerForget {
				lastPrune = now
				for k, p := range peers {
					if now.Sub(p.seen) > peerForget {
						delete(peers, k)
					}
				}
			}
		}
		if string(peer) == s.peer {
			// Our own changes were dropped locally before publishing.
			if seq > sub.ownSeen.Load() {
				sub.ownSeen.Store(seq)
			}
			return
		}
		for len(ids) > 0 {
			var id []byte
			id, ids, _ = bytes.Cut(ids, []byte{' '})
			if len(id) > 0 {
				s.cache.drop(string(id))
			}
		}
	}
}

// appendHeader starts a message.
func appendHeader(b []byte, peer string, seq uint64) []byte {
	b = append(b, messageVersion...)
	b = append(b, ' ')
	b = append(b, peer...)
	b = append(b, ' ')
	return strconv.AppendUint(b, seq, 10)
}

// appendIDs adds ids to a message.
func appendIDs(b []byte, ids []string) []byte {
	for _, id := range ids {
		b = append(b, ' ')
		b = append(b, id...)
	}
	return b
}

// parseMessage splits a message into its publisher, sequence number and
// space-separated ids.
func parseMessage(msg []byte) (peer []byte, seq uint64, ids []byte, ok bool) {
	v, rest, _ := bytes.Cut(msg, []byte{' '})
	if string(v) != messageVersion {
		return nil, 0, nil, false
	}
	peer, rest, _ = bytes.Cut(rest, []byte{' '})
	n, ids, _ := bytes.Cut(rest, []byte{' '})
	seq, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil || len(peer) == 0 {
		return nil, 0, nil, false
	}
	return peer, seq, ids, true
}

// publishLoop is the publisher goroutine: it takes requests, gathers the
// ones already waiting into one message, publishes it with the next
// sequence number and answers them, until ctx ends. A failed Publish still
// uses up its number, so that receivers see the gap and clear their
// caches.
func (s *Store) publishLoop(ctx context.Context, p *publisher) {
	defer close(p.stopped)
	var (
		seq   uint64
		batch []*pubReq
		buf   []byte
	)
	for {
		var r *pubReq
		select {
		case <-ctx.Done():
			return
		case r = <-p.q:
		}
		batch = append(batch[:0], r)
		n := len(r.ids)
	gather:
		for n < maxBatchIDs {
			select {
			case r := <-p.q:
				batch = append(batch, r)
				n += len(r.ids)
			default:
				break gather
			}
		}
		seq++
		buf = appendHeader(buf[:0], s.peer, seq)
		for _, r := range batch {
			buf = appendIDs(buf, r.ids)
		}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
		err := s.kv.Publish(pctx, Channel, buf)
		cancel()
		for _, r := range batch {
			if r.done != nil {
				r.done <- pubResult{seq: seq, err: err}
			}
		}
		clear(batch)
	}
}

// publish announces ids to the other Stores (none: a heartbeat). With
// wait it returns Publish's outcome and the message's sequence number;
// without, it returns once the publisher has the request. Before Start and
// after its context ends it publishes directly, unsequenced.
func (s *Store) publish(ctx context.Context, ids []string, wait bool) (uint64, error) {
	if p := s.pub.Load(); p != nil {
		r := &pubReq{ids: ids}
		if wait {
			r.done = make(chan pubResult, 1)
		}
		select {
		case p.q <- r:
			if !wait {
				return 0, nil
			}
			select {
			case res := <-r.done:
				return res.seq, res.err
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		case <-p.stopped:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	msg := appendIDs(appendHeader(nil, s.peer, 0), ids)
	return 0, s.kv.Publish(ctx, Channel, msg)
}

// supervise checks sub every HeartbeatEvery: the previous heartbeat must
// have come back, and the next must publish. When either fails, the cache
// is cleared and bypassed, and supervise resubscribes with backoff. It
// returns when ctx ends, leaving the cache off.
func (s *Store) supervise(ctx context.Context, sub *subscription) {
	t := time.NewTicker(s.opt.HeartbeatEvery)
	defer t.Stop()
	var want uint64 // sequence number of the heartbeat that must come back
	for {
		select {
		case <-ctx.Done():
			s.unuse(sub)
			return
		case <-t.C:
		}
		var lost error
		if want != 0 && sub.ownSeen.Load() < want {
			lost = fmt.Errorf("heartbeat %d not received within %v", want, s.opt.HeartbeatEvery)
		} else {
			// A heartbeat that cannot even be published within an interval
			// (Redis unreachable, publisher stuck) is a lost channel too.
			hctx, cancel := context.WithTimeout(ctx, s.opt.HeartbeatEvery)
			seq, err := s.publish(hctx, nil, true)
			cancel()
			switch {
			case ctx.Err() != nil:
				continue
			case err != nil:
				lost = fmt.Errorf("heartbeat: %w", err)
			default:
				want = seq
			}
		}
		if lost == nil {
			continue
		}
		s.log.Warn("session: invalidation channel lost; cache off until resubscribed", "err", lost)
		s.unuse(sub)
		if sub = s.resubscribe(ctx); sub == nil {
			return
		}
		want = 0
		s.log.Info("session: invalidation channel restored; cache on")
	}
}

// unuse turns the cache off (Gets read the KV from now on), ends sub and
// clears the cache.
func (s *Store) unuse(sub *subscription) {
	s.sub.CompareAndSwap(sub, nil)
	sub.cancel()
	s.cache.clear()
}

// resubscribe subscribes again, retrying with jittered exponential
// backoff, and turns the cache back on. It returns nil when ctx ends.
func (s *Store) resubscribe(ctx context.Context) *subscription {
	delay := backoffMin
	for {
		sub, err := s.subscribe(ctx)
		if err == nil {
			s.sub.Store(sub)
			return sub
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("session: resubscribe failed", "err", err, "retry_in", delay)
		t := time.NewTimer(delay/2 + rand.N(delay))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, backoffMax)
	}
}
