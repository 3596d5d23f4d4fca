package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/events"
	"gatehouse/gateway/outbox"
)

// EnvAllowPrivate names the environment variable that, set to 1, lets the
// endpoints of the top-level webhooks list reach loopback and private
// addresses (the fixed `webhooks:` schema has no key for it). The
// composition root (cmd/gatehouse) reads it and registers InfoAllowPrivate
// instead of Info; the gateway core never reads it.
const EnvAllowPrivate = "GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE"

// DefaultTimeout bounds one delivery: connecting, sending and reading the
// answer's headers.
const DefaultTimeout = 10 * time.Second

// SecretPrefix starts every endpoint secret.
const SecretPrefix = "whsec_"

// MinSecretLen is the fewest bytes a decoded secret may have.
const MinSecretLen = 24

// maxDrain is how much of an answer's body is read (and dropped) so that
// the connection can be reused.
const maxDrain = 64 << 10

// Events are the event types an endpoint may subscribe to (SPEC §8).
var Events = []string{
	events.UserCreated, events.UserVerified, events.UserLogin, events.UserUpdated, events.UserDeleted,
	events.MemberAdded, events.MemberRemoved,
}

// Delivery results, the values of the result label of
// gatehouse_webhook_deliveries_total.
const (
	ResultDelivered = "delivered" // a 2xx answer
	ResultFailed    = "failed"    // any other answer, or no answer: retried
	ResultGone      = "gone"      // 410 Gone: not retried
	ResultRefused   = "refused"   // the address is private: not retried
)

// Endpoint is one configured webhook endpoint.
type Endpoint struct {
	// URL is the absolute http(s) URL events are POSTed to.
	URL string
	// Events are the event types delivered (see Events).
	Events []string
	// Secret is "whsec_" + base64 of the HMAC key.
	Secret string
}

// Options tune the sinks. The zero value is the production setting.
type Options struct {
	// AllowPrivate lets the endpoints reach loopback, private, link-local
	// and other non-public addresses (tests, private deployments).
	AllowPrivate bool
	// Timeout bounds one delivery. Default DefaultTimeout.
	Timeout time.Duration
	// Client replaces the HTTP client (tests). It must not follow
	// redirects; nil: NewClient(AllowPrivate, Timeout).
	Client *http.Client
	// Clock tells the time of an attempt (webhook-timestamp). Default
	// time.Now.
	Clock func() time.Time
	// Deliveries counts deliveries by result (see DeliveriesCounter);
	// nil: not counted.
	Deliveries *prometheus.CounterVec
}

// Sink delivers the events of one endpoint. It is a gateway.EventSink:
// registered with the event emitter, it receives every event from the
// durable outbox and its retries; an error from OnEvent schedules a retry,
// an outbox.Permanent error gives up.
type Sink struct {
	url     *url.URL
	origin  string // scheme://host, the only part of the URL errors show
	events  map[string]bool
	key     []byte
	client  *http.Client
	now     func() time.Time
	counter *prometheus.CounterVec
}

var _ gateway.EventSink = (*Sink)(nil)

// NewSink checks ep and builds its sink.
func NewSink(ep Endpoint, o Options) (*Sink, error) {
	u, err := checkEndpoint(ep, o.AllowPrivate)
	if err != nil {
		return nil, err
	}
	key, _ := DecodeSecret(ep.Secret) // checked above
	s := &Sink{url: u, origin: u.Scheme + "://" + u.Host, events: map[string]bool{}, key: key,
		client: o.Client, now: o.Clock, counter: o.Deliveries}
	for _, e := range ep.Events {
		s.events[e] = true
	}
	if s.client == nil {
		s.client = NewClient(o.AllowPrivate, o.Timeout)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// checkEndpoint validates an endpoint without I/O, reporting every
// problem, and returns its parsed URL.
func checkEndpoint(ep Endpoint, allowPrivate bool) (*url.URL, error) {
	var errs []error
	var u *url.URL
	switch pu, err := config.ParseURL(ep.URL); {
	case ep.URL == "":
		errs = append(errs, errors.New("url: required"))
	case err != nil:
		errs = append(errs, fmt.Errorf("url: %w", err))
	case pu.Fragment != "":
		errs = append(errs, errors.New("url: must not have a fragment"))
	default:
		u = pu.URL
		if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !allowPrivate {
			if why := Forbidden(ip); why != "" {
				errs = append(errs, fmt.Errorf("url: %s is %s; webhooks may only reach public addresses", ip, why))
			}
		}
	}
	if len(ep.Events) == 0 {
		errs = append(errs, errors.New("events: want at least one event"))
	}
	for i, e := range ep.Events {
		switch {
		case !slices.Contains(Events, e):
			errs = append(errs, fmt.Errorf("events[%d]: unknown event %q (events are %s)", i, e, strings.Join(Events, ", ")))
		case slices.Index(ep.Events, e) < i:
			errs = append(errs, fmt.Errorf("events[%d]: duplicate event %q", i, e))
		}
	}
	if _, err := DecodeSecret(ep.Secret); err != nil {
		errs = append(errs, fmt.Errorf("secret: %w", err))
	}
	return u, errors.Join(errs...)
}

// DecodeSecret returns the HMAC key of a "whsec_<base64>" secret. The
// error never quotes the secret.
func DecodeSecret(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	switch {
	case secret == "":
		return nil, errors.New("required")
	case !ok:
		return nil, fmt.Errorf("must start with %q", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(rest)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("must be %q followed by base64", SecretPrefix)
	case len(key) < MinSecretLen:
		return nil, fmt.Errorf("must hold at least %d bytes after %q, has %d", MinSecretLen, SecretPrefix, len(key))
	}
	return key, nil
}

// Sign is the Standard Webhooks signature of one attempt:
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Payload is the JSON body of a delivery.
type Payload struct {
	Type      string         `json:"type"`
	Timestamp time.Time      `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// OnEvent POSTs e to the endpoint when it subscribes to e's type (other
// types are done at once). A 2xx answer is done; 410 Gone gives up
// (outbox.Permanent); anything else, or no answer, is retried by the
// outbox with backoff, with the same webhook-id. A refused private
// address gives up too.
func (s *Sink) OnEvent(ctx context.Context, e gateway.Event) error {
	if !s.events[e.Type] {
		return nil
	}
	data := e.Data
	if data == nil {
		data = map[string]any{}
	}
	body, err := json.Marshal(Payload{Type: e.Type, Timestamp: e.Time.UTC(), Data: data})
	if err != nil {
		return outbox.Permanent(fmt.Errorf("webhook %s: payload: %w", s.origin, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url.String(), bytes.NewReader(body))
	if err != nil {
		return outbox.Permanent(fmt.Errorf("webhook %s: %w", s.origin, err))
	}
	ts := s.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhooks/1")
	req.Header.Set("webhook-id", e.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(s.key, e.ID, ts, body))

	res, err := s.client.Do(req)
	if err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			s.count(ResultRefused)
			return outbox.Permanent(fmt.Errorf("webhook %s: %w", s.origin, re))
		}
		s.count(ResultFailed)
		// A *url.Error quotes the whole URL, which may hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", s.origin, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
	_ = res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		s.count(ResultDelivered)
		return nil
	case res.StatusCode == http.StatusGone:
		s.count(ResultGone)
		return outbox.Permanent(fmt.Errorf("webhook %s: answered 410 Gone; not retried", s.origin))
	}
	s.count(ResultFailed)
	return fmt.Errorf("webhook %s: answered %d", s.origin, res.StatusCode)
}

func (s *Sink) count(result string) {
	if s.counter != nil {
		s.counter.WithLabelValues(result).Inc()
	}
}

// CloseIdleConnections releases the sink's pooled connections.
func (s *Sink) CloseIdleConnections() { s.client.CloseIdleConnections() }

// NewClient is the HTTP client of the sinks: a timeout, no proxy (a proxy
// would dial for us, past the address check), redirects not followed, and
// unless allowPrivate a dialer that refuses non-public addresses. The
// check runs on the address actually dialled, after DNS resolution, so a
// name that resolves (or re-resolves: DNS rebinding) to a private address
// is refused too.
func NewClient(allowPrivate bool, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = refusePrivate
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// RefusedError is a connection the address check refused.
type RefusedError struct {
	Addr   netip.Addr
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: %s (set %s=1 or allow_private to allow)", e.Addr, e.Reason, EnvAllowPrivate)
}

// refusePrivate is the dialer's Control: it sees the resolved address
// just before the connection is made.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Reason: "an address that cannot be checked"}
	}
	if why := Forbidden(ap.Addr()); why != "" {
		return &RefusedError{Addr: ap.Addr().WithZone(""), Reason: why}
	}
	return nil
}

// nonPublic are further IPv4 ranges that are not the public internet.
var nonPublic = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a \"this network\" address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
}

// Forbidden says why a webhook may not connect to ip ("" = it may): a
// loopback, private (RFC 1918, fc00::/7), link-local, unspecified,
// multicast or otherwise non-public address. IPv4-mapped IPv6 addresses
// count as their IPv4 address.
func Forbidden(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsLinkLocalMulticast():
		return "a multicast address"
	}
	for _, n := range nonPublic {
		if n.prefix.Contains(ip) {
			return n.why
		}
	}
	return ""
}

// DeliveriesCounter registers gatehouse_webhook_deliveries_total{result}
// with reg, or returns the one already registered there (several
// endpoints share it); reg nil: an unregistered counter.
func DeliveriesCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_webhook_deliveries_total",
		Help: "Webhook delivery attempts by result (delivered, failed, gone, refused).",
	}, []string{"result"})
	if reg == nil {
		return vec, nil
	}
	if err := reg.Register(vec); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return vec, nil
}

// SinkID is the sink id of a top-level endpoint URL, the id of its
// webhooks plugin instance (config.WebhookID): outbox items are kept by it.
func SinkID(rawURL string) string { return config.WebhookID(rawURL) }
