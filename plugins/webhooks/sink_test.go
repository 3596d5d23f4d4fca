package webhooks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/outbox"
)

// testSecret is whsec_ + base64 of 32 bytes.
var testSecret = SecretPrefix + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// TestSignReferenceVector checks Sign against the test vector published
// with the Standard Webhooks specification.
func TestSignReferenceVector(t *testing.T) {
	key, err := DecodeSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestDecodeSecret(t *testing.T) {
	tests := []struct {
		name, secret, wantErr string
	}{
		{name: "padded base64", secret: testSecret},
		{name: "unpadded base64", secret: strings.TrimRight(SecretPrefix+base64.StdEncoding.EncodeToString(make([]byte, 25)), "=")},
		{name: "empty", wantErr: "required"},
		{name: "no prefix", secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", wantErr: `must start with "whsec_"`},
		{name: "not base64", secret: "whsec_!!!", wantErr: "followed by base64"},
		{name: "too short", secret: SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 16)), wantErr: "at least 24 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeSecret(tc.secret)
			checkErr(t, err, tc.wantErr)
			if err != nil && tc.secret != "" && strings.Contains(err.Error(), strings.TrimPrefix(tc.secret, SecretPrefix)) {
				t.Fatalf("the error quotes the secret: %v", err)
			}
		})
	}
}

func TestForbidden(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" = allowed
	}{
		{addr: "93.184.216.34"},
		{addr: "2606:2800:220:1:248:1893:25c8:1946"},
		{addr: "127.0.0.1", want: "loopback"},
		{addr: "127.255.0.9", want: "loopback"},
		{addr: "::1", want: "loopback"},
		{addr: "::ffff:127.0.0.1", want: "loopback"},
		{addr: "10.1.2.3", want: "private"},
		{addr: "172.16.0.1", want: "private"},
		{addr: "172.31.255.255", want: "private"},
		{addr: "172.32.0.1"},
		{addr: "192.168.1.1", want: "private"},
		{addr: "::ffff:192.168.1.1", want: "private"},
		{addr: "fc00::1", want: "private"},
		{addr: "fd12:3456::1", want: "private"},
		{addr: "169.254.169.254", want: "link-local"},
		{addr: "fe80::1", want: "link-local"},
		{addr: "fe80::1%eth0", want: "link-local"},
		{addr: "0.0.0.0", want: "unspecified"},
		{addr: "::", want: "unspecified"},
		{addr: "224.0.0.1", want: "multicast"},
		{addr: "ff02::1", want: "multicast"},
		{addr: "100.64.0.1", want: "carrier-grade NAT"},
		{addr: "0.1.2.3", want: "this network"},
		{addr: "255.255.255.255", want: "reserved"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			got := Forbidden(netip.MustParseAddr(tc.addr))
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("Forbidden(%s) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}

// received is one request a test receiver saw.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is an httptest endpoint answering with the statuses in order
// (then 200).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []received
	statuses []int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Header: req.Header.Clone(), Body: b})
		st := http.StatusOK
		if len(r.statuses) > 0 {
			st, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		if st == http.StatusFound {
			http.Redirect(w, req, "/elsewhere", st)
			return
		}
		w.WriteHeader(st)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

var testEvent = gateway.Event{
	ID:   "01JTESTEVENT",
	Type: "user.created",
	Time: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC),
	Data: map[string]any{"user_id": "u1", "email": "ada@example.com", "role": "user", "email_verified": false},
}

func TestOnEventDelivers(t *testing.T) {
	r := newReceiver(t)
	now := time.Unix(1_800_000_000, 0)
	reg := prometheus.NewRegistry()
	counter, err := DeliveriesCounter(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(Endpoint{URL: r.URL + "/hook?tenant=1", Events: []string{"user.created"}, Secret: testSecret},
		Options{AllowPrivate: true, Clock: func() time.Time { return now }, Deliveries: counter})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.OnEvent(t.Context(), testEvent); err != nil {
		t.Fatal(err)
	}
	// Another type is not the endpoint's business: done, nothing sent.
	if err := s.OnEvent(t.Context(), gateway.Event{ID: "x", Type: "user.login", Time: now}); err != nil {
		t.Fatal(err)
	}
	got := r.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	h := got[0].Header
	if h.Get("webhook-id") != testEvent.ID || h.Get("webhook-timestamp") != "1800000000" ||
		h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers: %v", h)
	}
	key, _ := DecodeSecret(testSecret)
	if want := Sign(key, testEvent.ID, now.Unix(), got[0].Body); h.Get("webhook-signature") != want {
		t.Fatalf("signature %q, want %q", h.Get("webhook-signature"), want)
	}
	var body map[string]any
	if err := json.Unmarshal(got[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"type":      "user.created",
		"timestamp": "2026-03-01T12:00:00.123456Z",
		"data":      map[string]any{"user_id": "u1", "email": "ada@example.com", "role": "user", "email_verified": false},
	}
	if d := cmp.Diff(want, body); d != "" {
		t.Fatalf("body (-want +got):\n%s", d)
	}
	if n := countOf(t, counter, ResultDelivered); n != 1 {
		t.Fatalf("delivered counter = %v, want 1", n)
	}
}

func TestOnEventOutcomes(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		wantErr       bool
		wantPermanent bool
		result        string
	}{
		{name: "200", status: 200, result: ResultDelivered},
		{name: "204", status: 204, result: ResultDelivered},
		{name: "server error is retried", status: 500, wantErr: true, result: ResultFailed},
		{name: "429 is retried", status: 429, wantErr: true, result: ResultFailed},
		{name: "400 is retried", status: 400, wantErr: true, result: ResultFailed},
		{name: "redirect is not followed", status: 302, wantErr: true, result: ResultFailed},
		{name: "410 gives up", status: 410, wantErr: true, wantPermanent: true, result: ResultGone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, tc.status)
			counter, _ := DeliveriesCounter(nil)
			s, err := NewSink(Endpoint{URL: r.URL, Events: []string{"user.created"}, Secret: testSecret},
				Options{AllowPrivate: true, Deliveries: counter})
			if err != nil {
				t.Fatal(err)
			}
			err = s.OnEvent(t.Context(), testEvent)
			if (err != nil) != tc.wantErr || outbox.IsPermanent(err) != tc.wantPermanent {
				t.Fatalf("err = %v (permanent %v), want error %v, permanent %v", err, outbox.IsPermanent(err), tc.wantErr, tc.wantPermanent)
			}
			if n := len(r.requests()); n != 1 {
				t.Fatalf("%d requests, want 1 (redirects are not followed)", n)
			}
			if n := countOf(t, counter, tc.result); n != 1 {
				t.Fatalf("%s counter = %v, want 1", tc.result, n)
			}
		})
	}
}

// TestRefusesPrivateAtDial: a host name passes the start-up check, but the
// address it resolves to is checked when dialling.
func TestRefusesPrivateAtDial(t *testing.T) {
	r := newReceiver(t)
	u, _ := url.Parse(r.URL)
	local := "http://localhost:" + u.Port() + "/hook?token=s3cr3t"
	s, err := NewSink(Endpoint{URL: local, Events: []string{"user.created"}, Secret: testSecret}, Options{})
	if err != nil {
		t.Fatalf("a host name must pass the start-up check: %v", err)
	}
	err = s.OnEvent(t.Context(), testEvent)
	var re *RefusedError
	if !errors.As(err, &re) || !outbox.IsPermanent(err) || !strings.Contains(re.Reason, "loopback") {
		t.Fatalf("err = %v, want a permanent refusal of a loopback address", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("the error quotes the URL's query: %v", err)
	}
	if n := len(r.requests()); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
	// Allowed explicitly, it goes through.
	s, _ = NewSink(Endpoint{URL: local, Events: []string{"user.created"}, Secret: testSecret}, Options{AllowPrivate: true})
	if err := s.OnEvent(t.Context(), testEvent); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsHideTheURL(t *testing.T) {
	// A closed port: the connection fails, and the error names only the origin.
	r := newReceiver(t)
	addr := r.URL
	r.Close()
	s, err := NewSink(Endpoint{URL: addr + "/hook?token=s3cr3t", Events: []string{"user.created"}, Secret: testSecret}, Options{AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	err = s.OnEvent(t.Context(), testEvent)
	if err == nil || outbox.IsPermanent(err) || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want a retryable error naming %s only", err, addr)
	}
}

func TestOnEventStopsWithContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	s, _ := NewSink(Endpoint{URL: srv.URL, Events: []string{"user.created"}, Secret: testSecret}, Options{AllowPrivate: true})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.OnEvent(ctx, testEvent); err == nil {
		t.Fatal("no error from a cancelled delivery")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("OnEvent took %v after its context ended", d)
	}
}

func TestNewSinkChecks(t *testing.T) {
	tests := []struct {
		name         string
		ep           Endpoint
		allowPrivate bool
		wantErr      string
	}{
		{name: "public", ep: Endpoint{URL: "https://hooks.example.com/x", Events: []string{"user.login"}, Secret: testSecret}},
		{name: "literal loopback", ep: Endpoint{URL: "http://127.0.0.1:9000/x", Events: []string{"user.login"}, Secret: testSecret}, wantErr: "127.0.0.1 is a loopback address"},
		{name: "literal loopback allowed", ep: Endpoint{URL: "http://127.0.0.1:9000/x", Events: []string{"user.login"}, Secret: testSecret}, allowPrivate: true},
		{name: "literal IPv6 link-local", ep: Endpoint{URL: "http://[fe80::1]/x", Events: []string{"user.login"}, Secret: testSecret}, wantErr: "link-local"},
		{name: "metadata address", ep: Endpoint{URL: "http://169.254.169.254/latest", Events: []string{"user.login"}, Secret: testSecret}, wantErr: "link-local"},
		{name: "not http", ep: Endpoint{URL: "ftp://example.com", Events: []string{"user.login"}, Secret: testSecret}, wantErr: "url: not an absolute http(s) URL"},
		{name: "fragment", ep: Endpoint{URL: "https://example.com/#x", Events: []string{"user.login"}, Secret: testSecret}, wantErr: "fragment"},
		{name: "unknown event", ep: Endpoint{URL: "https://example.com", Events: []string{"user.exploded"}, Secret: testSecret}, wantErr: `events[0]: unknown event "user.exploded"`},
		{name: "audit-only event", ep: Endpoint{URL: "https://example.com", Events: []string{"admin.action"}, Secret: testSecret}, wantErr: "unknown event"},
		{name: "duplicate event", ep: Endpoint{URL: "https://example.com", Events: []string{"user.login", "user.login"}, Secret: testSecret}, wantErr: `events[1]: duplicate event`},
		{name: "everything wrong", ep: Endpoint{}, wantErr: "url: required\nevents: want at least one event\nsecret: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSink(tc.ep, Options{AllowPrivate: tc.allowPrivate})
			checkErr(t, err, tc.wantErr)
		})
	}
}

// TestTopLevelWebhooks: the entries of the top-level list become plugin
// instances (config.WebhookSpecs) with the ids the outbox keeps items by.
func TestTopLevelWebhooks(t *testing.T) {
	hook := func(u string) config.Webhook {
		return config.Webhook{URL: u, Events: []string{"user.created"}, Secret: config.NewSecret(testSecret)}
	}
	a, b := "https://a.example.com/h", "https://b.example.com/h"
	private := config.Webhook{URL: "http://10.0.0.1/h", Events: []string{"user.created"}, Secret: config.NewSecret(testSecret)}
	tests := []struct {
		name    string
		info    gateway.PluginInfo
		list    []config.Webhook
		wantIDs []string
		wantErr string
	}{
		{name: "none", info: Info()},
		{name: "ids follow the url", info: Info(), list: []config.Webhook{hook(a), hook(b), hook(a)}, wantIDs: []string{SinkID(a), SinkID(b), SinkID(a) + ":2"}},
		{name: "reordered", info: Info(), list: []config.Webhook{hook(b), hook(a)}, wantIDs: []string{SinkID(b), SinkID(a)}},
		{name: "private address", info: Info(), list: []config.Webhook{hook(a), private}, wantErr: "webhooks[1] (webhooks).options: url: 10.0.0.1 is a private address"},
		{name: "private address allowed", info: InfoAllowPrivate(), list: []config.Webhook{private}, wantIDs: []string{SinkID(private.URL)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := gateway.NewRegistry([]gateway.PluginInfo{tc.info}, nil)
			if err != nil {
				t.Fatal(err)
			}
			chain, err := reg.BuildChain(config.WebhookSpecs(tc.list), nil)
			checkErr(t, err, tc.wantErr)
			var ids []string
			for _, in := range chain {
				ids = append(ids, in.ID)
			}
			if diff := cmp.Diff(tc.wantIDs, ids); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	if !strings.HasPrefix(SinkID(a), "webhook:") {
		t.Errorf("SinkID = %q", SinkID(a))
	}
}

// countOf reads one label's count.
func countOf(t *testing.T, vec *prometheus.CounterVec, result string) float64 {
	t.Helper()
	var m dto.Metric
	if err := vec.WithLabelValues(result).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
