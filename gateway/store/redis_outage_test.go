package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"gatehouse/gateway/store"
)

// TestRedisOutageErrors: a Redis that refuses connections, or accepts
// them and never answers (a frozen server), gives errors that wrap
// store.ErrUnavailable, and the caller's deadline bounds the wait rather
// than the 3 s read timeout.
func TestRedisOutageErrors(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // read nothing, answer nothing
		}
	}()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()

	for _, tc := range []struct {
		name string
		addr string
	}{
		{name: "refused", addr: refusedAddr},
		{name: "frozen", addr: silent.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := store.OpenRedis(store.RedisOptions{URL: fmt.Sprintf("redis://%s/0", tc.addr)})
			if err != nil {
				t.Fatal(err)
			}
			r := store.NewRedis(c)
			defer r.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err = r.Get(ctx, "k")
			took := time.Since(start)
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("Get error = %v, want one wrapping store.ErrUnavailable", err)
			}
			if errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get error = %v reads as not found", err)
			}
			if took > 1500*time.Millisecond {
				t.Errorf("Get took %s under a 300ms deadline", took)
			}
			if _, err := r.Allow(ctx, "k", store.PerPeriod(1, time.Minute)); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("Allow error = %v, want one wrapping store.ErrUnavailable", err)
			}
		})
	}
}
