package gateway

import (
	"context"
	"sync"
	"time"
)

// RequestScope is the context the engine gives every request (its
// UserContext, STYLE B7): it carries the request id and a deadline, and is
// cancelled when the handler returns. fasthttp never cancels on a client
// disconnect, so the deadline is the only brake on store, database, mail
// and HTTP calls.
//
// It costs one allocation: the timer that closes Done at the deadline is
// only started once something asks for Done (a store call does; a public
// proxied request usually does not). Deadline and Err are right either way.
type RequestScope struct {
	id       string
	deadline time.Time

	mu       sync.Mutex
	inner    context.Context // created on the first Done or AfterFunc
	stop     context.CancelFunc
	canceled bool
}

var _ context.Context = (*RequestScope)(nil)

type requestIDKey struct{}

// NewRequestScope returns a request's context, with the request id and
// the deadline. The engine calls Cancel when the handler returns.
func NewRequestScope(id string, deadline time.Time) *RequestScope {
	return &RequestScope{id: id, deadline: deadline}
}

// RequestIDFrom is the request id that ctx (or a parent) carries, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Deadline is the request's deadline.
func (c *RequestScope) Deadline() (time.Time, bool) { return c.deadline, true }

// Done is closed at the deadline or on Cancel.
func (c *RequestScope) Done() <-chan struct{} { return c.ctx().Done() }

// AfterFunc runs f once the context is done (context.AfterFunc calls it,
// so that children need no goroutine).
func (c *RequestScope) AfterFunc(f func()) func() bool { return context.AfterFunc(c.ctx(), f) }

// Err is context.Canceled after Cancel, context.DeadlineExceeded past the
// deadline, else nil.
func (c *RequestScope) Err() error {
	c.mu.Lock()
	inner, canceled := c.inner, c.canceled
	c.mu.Unlock()
	switch {
	case inner != nil:
		return inner.Err()
	case canceled:
		return context.Canceled
	case !time.Now().Before(c.deadline):
		return context.DeadlineExceeded
	}
	return nil
}

// Value is the request id for RequestIDFrom; there are no other values.
func (c *RequestScope) Value(key any) any {
	if key == (requestIDKey{}) {
		return c.id
	}
	return nil
}

// Cancel ends the context; the engine calls it when the handler returns.
func (c *RequestScope) Cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.canceled = true
	if c.stop != nil {
		c.stop()
	}
}

// ctx is the standard context behind Done, made on first use (and
// cancelled at once when Cancel came first).
func (c *RequestScope) ctx() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		c.inner, c.stop = context.WithDeadline(context.Background(), c.deadline)
		if c.canceled {
			c.stop()
		}
	}
	return c.inner
}

func (c *RequestScope) String() string { return "gateway.RequestScope(" + c.id + ")" }
