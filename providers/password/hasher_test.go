package password

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newTestHasher(t *testing.T, p Params, n int) *Hasher {
	t.Helper()
	h, err := NewHasher(p, n)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestNewHasher(t *testing.T) {
	tests := []struct {
		name    string
		p       Params
		n       int
		wantCap int
		wantErr error
	}{
		{name: "explicit limit", p: testParams, n: 3, wantCap: 3},
		{name: "zero means NumCPU", p: testParams, n: 0, wantCap: runtime.NumCPU()},
		{name: "negative means NumCPU", p: testParams, n: -1, wantCap: runtime.NumCPU()},
		{name: "bad params", p: Params{Memory: 64, Iterations: 1, SaltLen: 16, KeyLen: 32}, n: 1, wantErr: ErrHashParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHasher(tc.p, tc.n)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("NewHasher error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := cap(h.sem); got != tc.wantCap {
				t.Errorf("limit = %d, want %d", got, tc.wantCap)
			}
			if diff := cmp.Diff(tc.p, h.Params()); diff != "" {
				t.Errorf("Params (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHasherRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, testParams, 2)
	enc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{name: "right password", pw: "correct horse battery", want: true},
		{name: "wrong password", pw: "correct horse batter", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.Verify(ctx, tc.pw, enc)
			if err != nil || got != tc.want {
				t.Fatalf("Verify = %v, %v; want %v, nil", got, err, tc.want)
			}
			if ok, err := Verify(tc.pw, enc); err != nil || ok != tc.want {
				t.Fatalf("package Verify = %v, %v; want %v, nil", ok, err, tc.want)
			}
		})
	}
	if h.NeedsRehash(enc) {
		t.Error("NeedsRehash = true for the Hasher's own hash")
	}
	other := newTestHasher(t, Params{Memory: 128, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, 1)
	if !other.NeedsRehash(enc) {
		t.Error("NeedsRehash = false after the memory cost changed")
	}
	if err := h.DummyVerify(ctx, "whatever"); err != nil {
		t.Errorf("DummyVerify: %v", err)
	}
	if _, err := h.Verify(ctx, "x", "garbage"); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("Verify(garbage) error = %v, want ErrMalformedHash", err)
	}
}

// TestHasherLimitsConcurrency counts the goroutines inside the key
// derivation at once: never more than the limit.
func TestHasherLimitsConcurrency(t *testing.T) {
	const limit, workers = 2, 8
	h := newTestHasher(t, testParams, limit)
	var inside, peak atomic.Int32
	h.derive = func(pw, salt []byte, p Params) []byte {
		n := inside.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(15 * time.Millisecond)
		inside.Add(-1)
		return idKey(pw, salt, p)
	}
	enc := mustHash(t, "pw", testParams)

	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = h.Hash(ctx, "pw")
			case 1:
				_, err = h.Verify(ctx, "pw", enc)
			case 2:
				err = h.DummyVerify(ctx, "pw")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call failed: %v", err)
		}
	}
	if got := peak.Load(); got != limit {
		t.Errorf("peak concurrency = %d, want %d", got, limit)
	}
}

// TestHasherContext fills the only slot, then checks that waiting callers
// give up when their context ends, and that a malformed hash fails without
// waiting.
func TestHasherContext(t *testing.T) {
	h := newTestHasher(t, testParams, 1)
	entered, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.derive = func(pw, salt []byte, p Params) []byte {
		once.Do(func() {
			close(entered)
			<-unblock
		})
		return idKey(pw, salt, p)
	}
	enc := mustHash(t, "pw", testParams)
	holder := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "pw")
		holder <- err
	}()
	<-entered // the slot is taken until unblock

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		call func(ctx context.Context) error
		want error
	}{
		{
			name: "verify canceled while waiting",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(20*time.Millisecond, cancel)
				return ctx, cancel
			},
			call: func(ctx context.Context) error { _, err := h.Verify(ctx, "pw", enc); return err },
			want: context.Canceled,
		},
		{
			name: "hash deadline while waiting",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 20*time.Millisecond)
			},
			call: func(ctx context.Context) error { _, err := h.Hash(ctx, "pw"); return err },
			want: context.DeadlineExceeded,
		},
		{
			name: "dummy verify already canceled",
			ctx:  func() (context.Context, context.CancelFunc) { return canceled, func() {} },
			call: func(ctx context.Context) error { return h.DummyVerify(ctx, "pw") },
			want: context.Canceled,
		},
		{
			name: "malformed hash fails before waiting",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 5*time.Second)
			},
			call: func(ctx context.Context) error { _, err := h.Verify(ctx, "pw", "$argon2id$v=19$m=64"); return err },
			want: ErrMalformedHash,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("returned after %v", d)
			}
		})
	}

	close(unblock)
	if err := <-holder; err != nil {
		t.Fatalf("holder Hash: %v", err)
	}
	// The slot is free again, but a canceled context still refuses work.
	if _, err := h.Verify(canceled, "pw", enc); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with canceled ctx and a free slot: %v, want context.Canceled", err)
	}
	if ok, err := h.Verify(context.Background(), "pw", enc); !ok || err != nil {
		t.Errorf("Verify after release = %v, %v; want true, nil", ok, err)
	}
}

// TestHasherOwnMemory checks that a Hasher configured above the 1 GiB bound
// for stored hashes still reads its own hashes, while the package-level
// Verify refuses them. The key derivation is faked: no gigabytes are spent.
func TestHasherOwnMemory(t *testing.T) {
	big := Params{Memory: 2 << 20, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	h := newTestHasher(t, big, 1)
	h.derive = func(pw, salt []byte, p Params) []byte {
		return append(append([]byte{}, pw...), make([]byte, 32)...)[:p.KeyLen]
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if ok, err := h.Verify(ctx, "pw", enc); !ok || err != nil {
		t.Errorf("Hasher.Verify = %v, %v; want true, nil", ok, err)
	}
	if _, err := Verify("pw", enc); !errors.Is(err, ErrHashParams) {
		t.Errorf("Verify of a 2 GiB hash: %v, want ErrHashParams", err)
	}
}
