// Package mailtest is an SMTP sink for tests: a real SMTP server (from
// github.com/emersion/go-smtp) on 127.0.0.1 that keeps every message it
// receives, so that end-to-end tests can send through Gatehouse's smtp
// driver and read the code out of the mail.
//
//	sink := mailtest.StartSink(t)
//	cfg := config.SMTP{Host: sink.Host, Port: sink.Port, TLS: config.TLSNone}
//	// ... make Gatehouse send a code ...
//	msg := sink.WaitFor(t, "ann@example.com", 5*time.Second)
//	code := msg.MustParse(t).Code()
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLS modes of a sink, as in mail.smtp.tls.
const (
	TLSNone     = "none"
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
)

// Options configure a sink. The zero value is a plain-text server without
// AUTH.
type Options struct {
	// TLS is TLSNone (default), TLSStartTLS (STARTTLS offered; AUTH only
	// after it) or TLSImplicit (TLS from the first byte). The certificate is
	// self-signed for 127.0.0.1, ::1 and localhost; clients trust it through
	// Sink.ClientTLSConfig.
	TLS string
	// Username and Password, when Username is set, make the sink require
	// AUTH PLAIN with exactly these credentials before MAIL.
	Username, Password string
}

// Received is one message as the sink got it.
type Received struct {
	// From is the envelope sender (MAIL FROM); To the envelope recipients.
	From string
	To   []string
	// Data is the message as received: headers and body, CRLF line
	// endings, dot-stuffing undone.
	Data []byte
	// TLS reports whether the message came over TLS.
	TLS bool
	// AuthUser and AuthPassword are the credentials the client presented
	// with AUTH PLAIN ("" without AUTH).
	AuthUser, AuthPassword string
}

// Sink is a running SMTP server that keeps what it receives. It stops when
// the test ends.
type Sink struct {
	// Host and Port are where it listens (Host is "127.0.0.1").
	Host string
	Port int

	opts Options
	pool *x509.CertPool

	mu      sync.Mutex
	msgs    []Received
	changed chan struct{} // closed and replaced on every new message
}

// StartSink starts a plain-text sink without AUTH.
func StartSink(t testing.TB) *Sink {
	t.Helper()
	return StartSinkWith(t, Options{})
}

// StartSinkWith starts a sink configured by o.
func StartSinkWith(t testing.TB, o Options) *Sink {
	t.Helper()
	if o.TLS == "" {
		o.TLS = TLSNone
	}
	s := &Sink{opts: o, changed: make(chan struct{})}

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{sink: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 10
	srv.ErrorLog = log.New(io.Discard, "", 0)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	switch o.TLS {
	case TLSNone:
		srv.AllowInsecureAuth = true // loopback only
	case TLSStartTLS, TLSImplicit:
		cert, pool, err := selfSigned()
		if err != nil {
			_ = l.Close()
			t.Fatalf("mailtest: certificate: %v", err)
		}
		s.pool = pool
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if o.TLS == TLSImplicit {
			l = tls.NewListener(l, srv.TLSConfig)
		}
	default:
		_ = l.Close()
		t.Fatalf("mailtest: unknown TLS mode %q", o.TLS)
	}
	addr := l.Addr().(*net.TCPAddr)
	s.Host, s.Port = addr.IP.String(), addr.Port

	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l) // returns when closed
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close() // in case Serve had not registered it yet
		<-served
	})
	return s
}

// Addr is "host:port".
func (s *Sink) Addr() string { return net.JoinHostPort(s.Host, fmt.Sprint(s.Port)) }

// RootCAs is a pool holding the sink's self-signed certificate (nil for
// TLSNone).
func (s *Sink) RootCAs() *x509.CertPool { return s.pool }

// ClientTLSConfig is a client configuration that trusts the sink.
func (s *Sink) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
}

// Messages returns a copy of what the sink has received so far, oldest
// first.
func (s *Sink) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Wait returns the messages once there are at least n, or fails the test
// after timeout.
func (s *Sink) Wait(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	msgs, ok := s.waitUntil(timeout, func(msgs []Received) bool { return len(msgs) >= n })
	if !ok {
		t.Fatalf("mailtest: got %d messages within %v, want %d", len(msgs), timeout, n)
	}
	return msgs
}

// WaitFor returns the first message for the envelope recipient to, waiting
// up to timeout for it, or fails the test.
func (s *Sink) WaitFor(t testing.TB, to string, timeout time.Duration) Received {
	t.Helper()
	var found Received
	_, ok := s.waitUntil(timeout, func(msgs []Received) bool {
		for _, m := range msgs {
			for _, rcpt := range m.To {
				if strings.EqualFold(rcpt, to) {
					found = m
					return true
				}
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("mailtest: no message for %s within %v", to, timeout)
	}
	return found
}

func (s *Sink) waitUntil(timeout time.Duration, done func([]Received) bool) ([]Received, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		msgs := append([]Received(nil), s.msgs...)
		changed := s.changed
		s.mu.Unlock()
		if done(msgs) {
			return msgs, true
		}
		select {
		case <-changed:
		case <-timer.C:
			return msgs, false
		}
	}
}

func (s *Sink) add(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, r)
	close(s.changed)
	s.changed = make(chan struct{})
}

// session is one SMTP connection's transaction state.
type session struct {
	sink *Sink
	conn *smtp.Conn

	authed         bool
	user, password string
	from           string
	to             []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.sink.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.sink.opts.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, password string) error {
		ss.user, ss.password = user, password
		if identity != "" && identity != user {
			return smtp.ErrAuthFailed
		}
		if user != ss.sink.opts.Username || password != ss.sink.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.sink.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.sink.add(Received{
		From:         ss.from,
		To:           append([]string(nil), ss.to...),
		Data:         data,
		TLS:          isTLS,
		AuthUser:     ss.user,
		AuthPassword: ss.password,
	})
	return nil
}

func (ss *session) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *session) Logout() error { return nil }

// Parsed is a received message decoded: headers (RFC 2047 words in the
// subject decoded) and the text and HTML bodies (transfer encoding undone).
type Parsed struct {
	Header  mail.Header
	Subject string
	// ContentType is the top-level media type, e.g. "multipart/alternative".
	ContentType string
	Text, HTML  string
}

var codeRE = regexp.MustCompile(`\b\d{6}\b`)

// Code is the first 6-digit number in the text body ("" if none): the
// emailed code of SPEC §5.
func (p *Parsed) Code() string { return codeRE.FindString(p.Text) }

// MustParse is Parse that fails the test on error.
func (r Received) MustParse(t testing.TB) *Parsed {
	t.Helper()
	p, err := r.Parse()
	if err != nil {
		t.Fatalf("mailtest: parse message: %v\n%s", err, r.Data)
	}
	return p
}

// Parse decodes r with net/mail and mime/multipart. It accepts a text/plain
// or text/html single part, or a multipart/alternative of them.
func (r Received) Parse() (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		return nil, err
	}
	p := &Parsed{Header: msg.Header}
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("content-type: %w", err)
	}
	p.ContentType = mt
	if !strings.HasPrefix(mt, "multipart/") {
		body, err := decodeBody(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return nil, err
		}
		return p, p.set(mt, body)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart() // keep Content-Transfer-Encoding visible
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return nil, err
		}
		pmt, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			return nil, fmt.Errorf("part content-type: %w", err)
		}
		body, err := decodeBody(part, part.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return nil, err
		}
		if err := p.set(pmt, body); err != nil {
			return nil, err
		}
	}
}

func (p *Parsed) set(mediaType, body string) error {
	switch mediaType {
	case "text/plain":
		p.Text = body
	case "text/html":
		p.HTML = body
	default:
		return fmt.Errorf("unexpected part %s", mediaType)
	}
	return nil
}

func decodeBody(r io.Reader, cte string) (string, error) {
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "", "7bit", "8bit":
	default:
		return "", fmt.Errorf("unexpected Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

// selfSigned makes a throw-away certificate for 127.0.0.1, ::1 and
// localhost, and a pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mailtest sink"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
