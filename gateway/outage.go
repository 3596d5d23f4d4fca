package gateway

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"gatehouse/gateway/store"
)

// ErrUnavailable matches (errors.Is) every 503 unavailable.
var ErrUnavailable = Unavailable(nil)

// Outage reports whether err says that a dependency could not answer
// rather than what it answered: the one place that tells an outage of
// the database or the ephemeral store from a verdict or a bug. It holds
// for
//   - an unavailable *Error, and the stores' ErrUnavailable and ErrClosed;
//   - the request's deadline or cancellation (context.DeadlineExceeded,
//     context.Canceled, os.ErrDeadlineExceeded);
//   - network errors (net.Error: refused, reset, timed out, DNS) and the
//     errno values behind them;
//   - database/sql's bad or closed connections, a connection cut mid-reply
//     (io.ErrUnexpectedEOF);
//   - SQLSTATE classes 08 (connection exception) and 53 (insufficient
//     resources), 57P01-57P03 (shutting down, cannot connect now) and
//     57014 (query cancelled, e.g. by the deadline), from any driver error
//     with a SQLState method (pgx's *pgconn.PgError).
//
// Anything else (a constraint violation, a malformed record, a bug) is
// not an outage. Callers do not branch on it: Classify does, for the
// error handler and the auth stage.
func Outage(err error) bool {
	if err == nil {
		return false
	}
	for _, target := range []error{ErrUnavailable, store.ErrUnavailable, store.ErrClosed,
		context.DeadlineExceeded, context.Canceled, os.ErrDeadlineExceeded,
		driver.ErrBadConn, sql.ErrConnDone, io.ErrUnexpectedEOF,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		if errors.Is(err, target) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		code := st.SQLState()
		switch {
		case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"),
			code == "57P01", code == "57P02", code == "57P03", code == "57014":
			return true
		}
	}
	return false
}

// Classify is err as the client is answered: an *Error as it is, except
// an internal one whose cause is an Outage, which is Unavailable; any
// other error is Unavailable when it is an Outage, else Internal. The
// engine's error handler renders every failed request through it, and
// the auth stage classifies an authenticator's error with it, so that
// "could not look the session up" is never "no session".
func Classify(err error) *Error {
	var ge *Error
	if errors.As(err, &ge) {
		if ge.Code == "internal" && Outage(ge.Err) {
			return Unavailable(ge.Err)
		}
		return ge
	}
	if Outage(err) {
		return Unavailable(err)
	}
	return Internal(err)
}
