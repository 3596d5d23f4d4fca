package mail

// The SMTP client is github.com/emersion/go-smtp's Client rather than the
// standard library's net/smtp: net/smtp is frozen (no new features), while
// go-smtp is maintained, is already our dependency (its server is the test
// sink), rejects CR/LF in MAIL/RCPT arguments, dot-stuffs DATA, speaks
// SMTPUTF8/8BITMIME when offered, has per-command timeouts, and takes SASL
// mechanisms from go-sasl. Neither client takes a context, so Send dials
// with one and closes the connection when it ends.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"gatehouse/config"
)

// Timeouts of an SMTP send.
const (
	// DefaultDialTimeout bounds connecting, TLS handshake included.
	DefaultDialTimeout = 10 * time.Second
	// DefaultSendTimeout bounds a whole send when ctx has no deadline.
	DefaultSendTimeout = 2 * time.Minute
	// commandTimeout bounds each SMTP reply (a backstop under ctx).
	commandTimeout = time.Minute
)

// SMTPSender is the "smtp" mail driver: it submits each message over a new
// connection to one SMTP server.
//
// TLS modes (config.SMTP.TLS): "none" (plain text, e.g. a local relay on
// port 25), "starttls" (the default: the server must offer STARTTLS, or
// nothing is sent) and "tls" (implicit TLS, e.g. port 465). With a username
// it authenticates with AUTH PLAIN, and it refuses to send the credentials
// over an unencrypted connection unless the server is on a loopback address.
//
// Set the exported fields, if at all, before the first Send.
type SMTPSender struct {
	// TLSConfig, when not nil, is used for starttls and tls instead of a
	// default configuration (system roots), e.g. to trust a private CA. Its
	// ServerName defaults to the configured host.
	TLSConfig *tls.Config
	// DialTimeout bounds connecting; default DefaultDialTimeout.
	DialTimeout time.Duration
	// LocalName is this host's name in EHLO; default "localhost".
	LocalName string
	// Now is the clock of the Date header; default time.Now.
	Now func() time.Time

	host     string
	addr     string // host:port
	mode     string
	username string
	password config.Secret
	from     *mail.Address
	domain   string // of from, for Message-IDs
}

var _ Sender = (*SMTPSender)(nil)

// NewSMTPSender returns a sender for the server cfg, sending from from (an
// RFC 5322 address such as "Gatehouse <no-reply@example.com>"). A port of 0
// means 465 for tls, 587 for starttls and 25 for none; an empty TLS mode
// means starttls. It fails on an invalid from, an unknown TLS mode, or
// credentials that would cross a network in the clear.
func NewSMTPSender(cfg config.SMTP, from string) (*SMTPSender, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail.smtp.host: required with the smtp driver")
	}
	mode := cfg.TLS
	if mode == "" {
		mode = config.TLSStartTLS
	}
	port := cfg.Port
	switch mode {
	case config.TLSImplicit:
		port = cmp.Or(port, 465)
	case config.TLSStartTLS:
		port = cmp.Or(port, 587)
	case config.TLSNone:
		port = cmp.Or(port, 25)
	default:
		return nil, fmt.Errorf("mail.smtp.tls: want %q, %q or %q, got %q",
			config.TLSNone, config.TLSStartTLS, config.TLSImplicit, cfg.TLS)
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("mail.smtp.port: %d out of range", port)
	}
	if strings.ContainsAny(cfg.Username, "\r\n\x00") {
		return nil, errors.New("mail.smtp.username: contains a control character")
	}
	if cfg.Username != "" && mode == config.TLSNone && !loopbackHost(cfg.Host) {
		return nil, fmt.Errorf("mail.smtp: refusing to send credentials unencrypted to %s: use tls: starttls or tls", cfg.Host)
	}
	fa, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail.from: %q is not an address: %w", from, err)
	}
	at := strings.LastIndexByte(fa.Address, '@')
	if at < 0 || at == len(fa.Address)-1 {
		return nil, fmt.Errorf("mail.from: %q has no domain", from)
	}
	return &SMTPSender{
		host:     cfg.Host,
		addr:     net.JoinHostPort(cfg.Host, strconv.Itoa(port)),
		mode:     mode,
		username: cfg.Username,
		password: cfg.Password,
		from:     fa,
		domain:   fa.Address[at+1:],
	}, nil
}

// Send submits m. The whole exchange is bounded by ctx (DefaultSendTimeout
// when ctx has no deadline). Errors name the server and the step that
// failed, never the password.
func (s *SMTPSender) Send(ctx context.Context, m Message) (err error) {
	if err := m.Validate(); err != nil {
		return err
	}
	body, err := s.compose(m)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultSendTimeout)
		defer cancel()
	}
	defer func() {
		// A connection closed by ctx fails with a network error; say why.
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("mail: smtp %s: %w (%w)", s.addr, ctx.Err(), err)
		}
	}()

	sess, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer sess.close()

	if s.username != "" {
		if err := s.auth(sess); err != nil {
			return err
		}
	}
	if err := sess.c.SendMail(s.from.Address, []string{m.To}, bytes.NewReader(body)); err != nil {
		return fmt.Errorf("mail: smtp %s: send: %w", s.addr, err)
	}
	// The server has taken the message: a failed QUIT must not make the
	// outbox send it again.
	_ = sess.c.Quit()
	return nil
}

// session is one connection to the server.
type session struct {
	c        *smtp.Client
	stop     func() bool // unhooks the close-on-ctx
	loopback bool        // the peer is on a loopback address
}

func (ss *session) close() {
	ss.stop()
	_ = ss.c.Close()
}

// connect dials, sets up TLS as configured and says EHLO. The connection is
// closed when ctx ends, whatever deadlines the client sets on it.
func (s *SMTPSender) connect(ctx context.Context) (*session, error) {
	d := net.Dialer{Timeout: s.DialTimeout}
	if d.Timeout <= 0 {
		d.Timeout = DefaultDialTimeout
	}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp %s: connect: %w", s.addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	fail := func(step string, err error) (*session, error) {
		stop()
		_ = conn.Close()
		return nil, fmt.Errorf("mail: smtp %s: %s: %w", s.addr, step, err)
	}

	var c *smtp.Client
	switch s.mode {
	case config.TLSImplicit:
		tc := tls.Client(conn, s.tlsConfig())
		hctx, cancel := context.WithTimeout(ctx, d.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fail("tls handshake", err)
		}
		c = smtp.NewClient(tc)
	case config.TLSStartTLS:
		// NewClientStartTLS fails when the server does not offer STARTTLS:
		// starttls never falls back to plain text.
		c, err = smtp.NewClientStartTLS(conn, s.tlsConfig())
		if err != nil {
			return fail("starttls (required)", err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = commandTimeout
	c.SubmissionTimeout = commandTimeout
	local := s.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return fail("ehlo", err)
	}
	return &session{c: c, stop: stop, loopback: loopbackAddr(conn.RemoteAddr())}, nil
}

// auth authenticates with AUTH PLAIN, only over TLS or to a loopback peer.
func (s *SMTPSender) auth(ss *session) error {
	if _, tlsOn := ss.c.TLSConnectionState(); !tlsOn && !ss.loopback {
		return fmt.Errorf("mail: smtp %s: refusing to send credentials over an unencrypted connection", s.addr)
	}
	if !ss.c.SupportsAuth(sasl.Plain) {
		return fmt.Errorf("mail: smtp %s: server does not offer AUTH PLAIN", s.addr)
	}
	if err := ss.c.Auth(sasl.NewPlainClient("", s.username, s.password.Value())); err != nil {
		return fmt.Errorf("mail: smtp %s: auth as %q: %w", s.addr, s.username, err)
	}
	return nil
}

// tlsConfig is TLSConfig (or a default) naming the configured host.
func (s *SMTPSender) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	return cfg
}

// compose renders m as an RFC 5322 message with CRLF line endings: a
// text/plain part, and an HTML alternative when m.HTML is set. Bodies are
// quoted-printable (7-bit safe, lines of at most 76 characters); the SMTP
// client dot-stuffs the result.
func (s *SMTPSender) compose(m Message) ([]byte, error) {
	var b bytes.Buffer
	header := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	id, err := messageID(s.domain)
	if err != nil {
		return nil, err
	}
	header("From", s.from.String())
	header("To", (&mail.Address{Address: m.To}).String())
	header("Subject", encodeHeader(m.Subject))
	header("Date", now().Format(time.RFC1123Z))
	header("Message-ID", id)
	header("MIME-Version", "1.0")

	textHeader := textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	}
	if m.HTML == "" {
		header("Content-Type", textHeader.Get("Content-Type"))
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	mw := multipart.NewWriter(&b)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	parts := []struct {
		h    textproto.MIMEHeader
		body string
	}{
		{h: textHeader, body: m.Text},
		{h: textproto.MIMEHeader{
			"Content-Type":              {"text/html; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		}, body: m.HTML},
	}
	for _, p := range parts {
		w, err := mw.CreatePart(p.h)
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, p.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeQP writes body quoted-printable; line breaks (LF, CRLF or CR) become
// CRLF. Nothing follows the body: the multipart writer adds the CRLF before
// a boundary, and the SMTP client ends the last line.
func writeQP(w io.Writer, body string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, body); err != nil {
		return err
	}
	return qp.Close()
}

// encodeHeader RFC 2047-encodes a header value when it is not plain ASCII,
// folding between encoded words to keep lines short.
func encodeHeader(v string) string {
	enc := mime.QEncoding.Encode("utf-8", v)
	if enc == v {
		return v
	}
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// messageID returns a new "<random@domain>".
func messageID(domain string) (string, error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">", nil
}

// loopbackHost reports whether host names this machine: "localhost" or a
// loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackAddr reports whether a connected peer is on a loopback address.
func loopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
