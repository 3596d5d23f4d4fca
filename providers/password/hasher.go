package password

import (
	"context"
	"fmt"
	"runtime"
)

// Hasher hashes and verifies with fixed Params, at most maxConcurrent at a
// time. Argon2id at 64 MiB per hash can exhaust memory under a sign-in
// flood; callers beyond the limit wait for a slot, and give up when their
// context ends. A Hasher is safe for concurrent use.
type Hasher struct {
	params    Params
	maxMemory uint32        // largest stored memory cost Verify accepts
	sem       chan struct{} // one token per running hash
	derive    deriveFunc
}

// NewHasher returns a Hasher for p that runs at most maxConcurrent hashes
// at once; maxConcurrent < 1 means runtime.NumCPU(). It fails when p is
// invalid (see Params.Validate).
func NewHasher(p Params, maxConcurrent int) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if maxConcurrent < 1 {
		maxConcurrent = runtime.NumCPU()
	}
	return &Hasher{
		params: p,
		// Hashes made with p must stay readable even above the 1 GiB
		// bound for stored hashes.
		maxMemory: max(MaxStoredMemory, p.Memory),
		sem:       make(chan struct{}, maxConcurrent),
		derive:    idKey,
	}, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// acquire takes a slot, or returns the context's error when ctx ends first.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("password: waiting to hash: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting to hash: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash hashes pw with the Hasher's Params (see Hash).
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return hash(h.derive, pw, h.params)
}

// Verify reports whether pw matches encoded (see Verify). The hash is
// parsed before waiting for a slot, so a malformed one fails at once.
// Stored memory costs up to the larger of MaxStoredMemory and the
// Hasher's own Memory are accepted.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (bool, error) {
	d, err := parse(encoded, h.maxMemory)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	return d.verify(h.derive, pw), nil
}

// DummyVerify spends the work of a Verify against a hash made with the
// Hasher's Params (see DummyVerify). Its only error is the context's.
func (h *Hasher) DummyVerify(ctx context.Context, pw string) error {
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release()
	return dummyVerify(h.derive, pw, h.params)
}

// NeedsRehash reports whether encoded should be rehashed with the
// Hasher's Params (see NeedsRehash). It does no hashing.
func (h *Hasher) NeedsRehash(encoded string) bool {
	return NeedsRehash(encoded, h.params)
}
