package gateway_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/store"
)

func TestClassify(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want string // the code answered
	}{
		{name: "store unavailable", err: fmt.Errorf("session: get: %w", fmt.Errorf("%w: i/o timeout", store.ErrUnavailable)), want: "unavailable"},
		{name: "store closed", err: store.ErrClosed, want: "unavailable"},
		{name: "request deadline", err: fmt.Errorf("read user: %w", context.DeadlineExceeded), want: "unavailable"},
		{name: "connection refused", err: refused, want: "unavailable"},
		{name: "reset", err: syscall.ECONNRESET, want: "unavailable"},
		{name: "bad connection", err: driver.ErrBadConn, want: "unavailable"},
		{name: "cut mid-reply", err: io.ErrUnexpectedEOF, want: "unavailable"},
		{name: "postgres shutting down", err: &pgconn.PgError{Code: "57P01"}, want: "unavailable"},
		{name: "postgres cannot connect now", err: &pgconn.PgError{Code: "57P03"}, want: "unavailable"},
		{name: "postgres too many connections", err: &pgconn.PgError{Code: "53300"}, want: "unavailable"},
		{name: "postgres connection failure", err: &pgconn.PgError{Code: "08006"}, want: "unavailable"},
		{name: "postgres statement cancelled", err: &pgconn.PgError{Code: "57014"}, want: "unavailable"},
		{name: "internal with an outage cause", err: gateway.Internal(fmt.Errorf("x: %w", refused)), want: "unavailable"},
		{name: "unavailable as is", err: gateway.Unavailable(nil), want: "unavailable"},
		{name: "postgres unique violation", err: &pgconn.PgError{Code: "23505"}, want: "internal"},
		{name: "record not found", err: gorm.ErrRecordNotFound, want: "internal"},
		{name: "store not found", err: store.ErrNotFound, want: "internal"},
		{name: "wrong type", err: store.ErrWrongType, want: "internal"},
		{name: "plain bug", err: errors.New("nil map"), want: "internal"},
		{name: "internal with a bug", err: gateway.Internal(errors.New("nil map")), want: "internal"},
		{name: "a verdict stays", err: gateway.Unauthenticated(), want: "unauthenticated"},
		{name: "a wrapped verdict stays", err: fmt.Errorf("x: %w", gateway.InvalidToken()), want: "invalid_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := gateway.Classify(tc.err)
			if got.Code != tc.want {
				t.Fatalf("Classify(%v) = %s, want %s", tc.err, got.Code, tc.want)
			}
			if tc.want == "unavailable" {
				if got.Status != 503 || got.RetryAfter <= 0 {
					t.Errorf("unavailable is %d with Retry-After %s, want 503 with one", got.Status, got.RetryAfter)
				}
				if !errors.Is(got, gateway.ErrUnavailable) || !gateway.Outage(tc.err) {
					t.Errorf("errors.Is(…, ErrUnavailable) or Outage does not hold")
				}
			}
		})
	}
}
