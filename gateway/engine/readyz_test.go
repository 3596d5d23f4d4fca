package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gatehouse/gateway"
	"gatehouse/gateway/engine"
)

// TestReadyzChecksApart: a dependency that hangs is reported alone, and
// the answer does not wait for the checks one after another.
func TestReadyzChecksApart(t *testing.T) {
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	ok := func(ctx context.Context) error {
		// A check that needs a moment, but less than its own timeout.
		select {
		case <-time.After(300 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name       string
		checks     []gateway.Check
		wantCode   int
		wantFailed []string
	}{
		{name: "all answer", checks: []gateway.Check{{Name: "database", Check: ok}, {Name: "redis", Check: ok}}, wantCode: 200},
		{name: "a hung database", checks: []gateway.Check{{Name: "database", Check: hang}, {Name: "redis", Check: ok}},
			wantCode: 503, wantFailed: []string{"database"}},
		{name: "both down", checks: []gateway.Check{{Name: "database", Check: hang}, {Name: "redis", Check: down}},
			wantCode: 503, wantFailed: []string{"database", "redis"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := startGateway(t, testConfig(t), func(d *engine.Deps) { d.Checks = tc.checks })
			start := time.Now()
			res, err := http.Get(base + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			took := time.Since(start)
			var body struct {
				Status string   `json:"status"`
				Failed []string `json:"failed"`
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.wantCode {
				t.Errorf("status %d, want %d", res.StatusCode, tc.wantCode)
			}
			if diff := cmp.Diff(tc.wantFailed, body.Failed); diff != "" {
				t.Errorf("failed (-want +got):\n%s", diff)
			}
			if took > 3*time.Second {
				t.Errorf("readyz took %v: the checks did not run at once", took)
			}
		})
	}
}
