package gateway_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/gateway"
)

func TestRequestScope(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		cancel  bool // Cancel before anything asks for Done
		child   bool // look through a context.WithTimeout child
		wantErr error
	}{
		{name: "deadline passes", timeout: 20 * time.Millisecond, wantErr: context.DeadlineExceeded},
		{name: "deadline passes, seen by a child", timeout: 20 * time.Millisecond, child: true, wantErr: context.DeadlineExceeded},
		{name: "cancelled first", timeout: time.Hour, cancel: true, wantErr: context.Canceled},
		{name: "cancelled first, seen by a child", timeout: time.Hour, cancel: true, child: true, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := gateway.NewRequestScope("req-1", time.Now().Add(tc.timeout))
			if tc.cancel {
				rc.Cancel()
			}
			var ctx context.Context = rc
			if tc.child {
				var stop context.CancelFunc
				ctx, stop = context.WithTimeout(rc, 2*time.Hour)
				defer stop()
			}
			if got := gateway.RequestIDFrom(ctx); got != "req-1" {
				t.Errorf("RequestIDFrom %q, want req-1", got)
			}
			if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > tc.timeout {
				t.Errorf("Deadline %v %v, want within %s", dl, ok, tc.timeout)
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed")
			}
			if err := ctx.Err(); !errors.Is(err, tc.wantErr) {
				t.Errorf("Err %v, want %v", err, tc.wantErr)
			}
			rc.Cancel()
		})
	}
	// Err is right without anyone asking for Done.
	rc := gateway.NewRequestScope("", time.Now().Add(-time.Second))
	if !errors.Is(rc.Err(), context.DeadlineExceeded) {
		t.Errorf("past deadline: Err %v", rc.Err())
	}
}
