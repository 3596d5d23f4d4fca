package mail

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gatehouse/config"
	"gatehouse/gateway/mail/mailtest"
)

const (
	testUser     = "gatehouse"
	testPassword = "s3cret-pa55word"
)

// sender returns an SMTPSender for sink in mode, trusting its certificate.
func sender(t *testing.T, sink *mailtest.Sink, mode, user, password string) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender(config.SMTP{
		Host: sink.Host, Port: sink.Port, TLS: mode,
		Username: user, Password: config.NewSecret(password),
	}, "Gâtehouse <no-reply@example.com>")
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	s.TLSConfig = sink.ClientTLSConfig()
	s.Now = func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }
	return s
}

func TestSMTPSend(t *testing.T) {
	msg := Message{
		To:      "ann@example.com",
		Subject: "Vérifiez votre adresse — code inside",
		// A lone dot and a dot-led line test dot-stuffing; the long line
		// tests quoted-printable soft breaks; the bare LF becomes CRLF.
		Text: "Your code is 123456.\n.\n..starts with dots\n" + strings.Repeat("long ", 40) + "\nend",
		HTML: "<p>Your code is <b>123456</b> — ünïcode</p>",
	}
	tests := []struct {
		name     string
		mode     string
		user     string
		password string
	}{
		{name: "none without auth", mode: config.TLSNone},
		{name: "none with auth on loopback", mode: config.TLSNone, user: testUser, password: testPassword},
		{name: "starttls with auth", mode: config.TLSStartTLS, user: testUser, password: testPassword},
		{name: "implicit tls with auth", mode: config.TLSImplicit, user: testUser, password: testPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := mailtest.StartSinkWith(t, mailtest.Options{TLS: tc.mode, Username: tc.user, Password: tc.password})
			s := sender(t, sink, tc.mode, tc.user, tc.password)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := s.Send(ctx, msg); err != nil {
				t.Fatalf("Send: %v", err)
			}

			got := sink.Wait(t, 1, time.Second)
			if len(got) != 1 {
				t.Fatalf("sink holds %d messages, want 1", len(got))
			}
			r := got[0]
			envelope := struct {
				From, User, Password string
				To                   []string
				TLS                  bool
			}{r.From, r.AuthUser, r.AuthPassword, r.To, r.TLS}
			wantEnvelope := envelope
			wantEnvelope.From, wantEnvelope.To = "no-reply@example.com", []string{"ann@example.com"}
			wantEnvelope.User, wantEnvelope.Password = tc.user, tc.password
			wantEnvelope.TLS = tc.mode != config.TLSNone
			if diff := cmp.Diff(wantEnvelope, envelope); diff != "" {
				t.Errorf("envelope (-want +got):\n%s", diff)
			}

			checkWireFormat(t, r.Data)
			p := r.MustParse(t)
			if p.Subject != msg.Subject {
				t.Errorf("Subject = %q, want %q", p.Subject, msg.Subject)
			}
			if want := strings.ReplaceAll(msg.Text, "\n", "\r\n"); p.Text != want {
				t.Errorf("text part = %q, want %q", p.Text, want)
			}
			if p.HTML != msg.HTML {
				t.Errorf("html part = %q, want %q", p.HTML, msg.HTML)
			}
			if p.Code() != "123456" {
				t.Errorf("Code() = %q, want 123456", p.Code())
			}
			if p.ContentType != "multipart/alternative" {
				t.Errorf("Content-Type = %q, want multipart/alternative", p.ContentType)
			}
			from, err := p.Header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Name != "Gâtehouse" || from[0].Address != "no-reply@example.com" {
				t.Errorf("From = %v (%v), want Gâtehouse <no-reply@example.com>", from, err)
			}
			to, err := p.Header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Address != "ann@example.com" {
				t.Errorf("To = %v (%v), want ann@example.com", to, err)
			}
			if d, err := p.Header.Date(); err != nil || !d.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
				t.Errorf("Date = %v (%v)", d, err)
			}
			if id := p.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
				t.Errorf("Message-ID = %q, want <...@example.com>", id)
			}
			if v := p.Header.Get("Mime-Version"); v != "1.0" {
				t.Errorf("MIME-Version = %q", v)
			}
		})
	}
}

// checkWireFormat checks CRLF line endings, line length and 7-bit headers.
func checkWireFormat(t *testing.T, data []byte) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("message has a bare LF:\n%s", data)
	}
	for _, line := range strings.Split(string(data), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d bytes", len(line))
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Errorf("8-bit byte in %q", line)
				break
			}
		}
	}
}

func TestSMTPTextOnly(t *testing.T) {
	sink := mailtest.StartSink(t)
	s := sender(t, sink, config.TLSNone, "", "")
	if err := s.Send(t.Context(), Message{To: "ann@example.com", Subject: "Hi", Text: "code 654321"}); err != nil {
		t.Fatal(err)
	}
	p := sink.Wait(t, 1, time.Second)[0].MustParse(t)
	// The SMTP client ends the last line: a single-part body gains a CRLF.
	if p.ContentType != "text/plain" || p.Text != "code 654321\r\n" || p.HTML != "" {
		t.Errorf("got %s text %q html %q; want text/plain only", p.ContentType, p.Text, p.HTML)
	}
}

func TestSMTPRefusals(t *testing.T) {
	tests := []struct {
		name    string
		sink    mailtest.Options
		mode    string
		user    string
		pass    string
		noTrust bool // use the system roots, which do not trust the sink
		msg     Message
		wantErr string
	}{
		{name: "starttls not offered", sink: mailtest.Options{TLS: mailtest.TLSNone},
			mode: config.TLSStartTLS, wantErr: "STARTTLS"},
		{name: "untrusted certificate", sink: mailtest.Options{TLS: mailtest.TLSImplicit},
			mode: config.TLSImplicit, noTrust: true, wantErr: "certificate"},
		{name: "wrong password", sink: mailtest.Options{TLS: mailtest.TLSStartTLS, Username: testUser, Password: testPassword},
			mode: config.TLSStartTLS, user: testUser, pass: "wrong-password-42", wantErr: "auth as"},
		{name: "server wants auth", sink: mailtest.Options{TLS: mailtest.TLSStartTLS, Username: testUser, Password: testPassword},
			mode: config.TLSStartTLS, wantErr: "send"},
		{name: "header injection in To", sink: mailtest.Options{},
			mode: config.TLSNone, msg: Message{To: "ann@example.com\r\nBcc: eve@example.com", Subject: "Hi", Text: "x"},
			wantErr: "line break"},
		{name: "header injection in Subject", sink: mailtest.Options{},
			mode: config.TLSNone, msg: Message{To: "ann@example.com", Subject: "Hi\r\nBcc: eve@example.com", Text: "x"},
			wantErr: "line break"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := mailtest.StartSinkWith(t, tc.sink)
			s := sender(t, sink, tc.mode, tc.user, tc.pass)
			if tc.noTrust {
				s.TLSConfig = nil
			}
			msg := tc.msg
			if msg.To == "" {
				msg = Message{To: "ann@example.com", Subject: "Hi", Text: "code 123456"}
			}
			err := s.Send(t.Context(), msg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Send = %v, want an error containing %q", err, tc.wantErr)
			}
			if tc.pass != "" && strings.Contains(err.Error(), tc.pass) {
				t.Errorf("error reveals the password: %v", err)
			}
			if n := len(sink.Messages()); n != 0 {
				t.Errorf("sink received %d messages, want 0", n)
			}
		})
	}
}

func TestNewSMTPSender(t *testing.T) {
	tests := []struct {
		name     string
		cfg      config.SMTP
		from     string
		wantErr  string
		wantAddr string
	}{
		{name: "starttls default port", cfg: config.SMTP{Host: "smtp.example.com"}, wantAddr: "smtp.example.com:587"},
		{name: "tls default port", cfg: config.SMTP{Host: "smtp.example.com", TLS: config.TLSImplicit}, wantAddr: "smtp.example.com:465"},
		{name: "none default port", cfg: config.SMTP{Host: "relay", TLS: config.TLSNone}, wantAddr: "relay:25"},
		{name: "explicit port", cfg: config.SMTP{Host: "::1", Port: 2525, TLS: config.TLSNone}, wantAddr: "[::1]:2525"},
		{name: "credentials in clear to loopback", cfg: config.SMTP{Host: "127.0.0.1", TLS: config.TLSNone, Username: "u"},
			wantAddr: "127.0.0.1:25"},
		{name: "credentials in clear to localhost", cfg: config.SMTP{Host: "localhost", TLS: config.TLSNone, Username: "u"},
			wantAddr: "localhost:25"},
		{name: "credentials in clear over a network", cfg: config.SMTP{Host: "smtp.example.com", TLS: config.TLSNone, Username: "u",
			Password: config.NewSecret("hunter2")}, wantErr: "refusing to send credentials unencrypted"},
		{name: "no host", cfg: config.SMTP{}, wantErr: "mail.smtp.host"},
		{name: "bad tls mode", cfg: config.SMTP{Host: "h", TLS: "ssl"}, wantErr: "mail.smtp.tls"},
		{name: "bad port", cfg: config.SMTP{Host: "h", Port: 70000}, wantErr: "mail.smtp.port"},
		{name: "bad from", cfg: config.SMTP{Host: "h"}, from: "not an address", wantErr: "mail.from"},
		{name: "username with CRLF", cfg: config.SMTP{Host: "h", Username: "u\r\nRCPT TO:<x@y>"}, wantErr: "mail.smtp.username"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := tc.from
			if from == "" {
				from = "Gatehouse <no-reply@example.com>"
			}
			s, err := NewSMTPSender(tc.cfg, from)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewSMTPSender = %v, want an error containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error reveals the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.addr != tc.wantAddr {
				t.Errorf("addr = %q, want %q", s.addr, tc.wantAddr)
			}
		})
	}
}

// A server that accepts but never greets: Send gives up when ctx ends.
func TestSMTPSendBoundedByContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, silent
		}
	}()
	addr := l.Addr().(*net.TCPAddr)
	s, err := NewSMTPSender(config.SMTP{Host: "127.0.0.1", Port: addr.Port, TLS: config.TLSNone}, "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, Message{To: "ann@example.com", Subject: "Hi", Text: "x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v after its context ended", d)
	}
}

func TestEncodeHeaderFolds(t *testing.T) {
	long := strings.Repeat("é", 120)
	enc := encodeHeader(long)
	for _, line := range strings.Split(enc, "\r\n") {
		if len(line) > 78 {
			t.Errorf("encoded line of %d bytes: %q", len(line), line)
		}
	}
	// Parse it back as a header would be read.
	msg, err := mail.ReadMessage(strings.NewReader("Subject: " + enc + "\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || got != long {
		t.Errorf("decoded = %q (%v), want %q", got, err, long)
	}
	if encodeHeader("plain ascii") != "plain ascii" {
		t.Error("ASCII header was encoded")
	}
}
