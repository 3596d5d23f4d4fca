package mail

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway/db"
	"gatehouse/gateway/db/dbtest"
	"gatehouse/gateway/lang"
	"gatehouse/gateway/mail/mailtest"
	"gatehouse/gateway/outbox"
)

// openDB returns a migrated SQLite database (the outbox itself is tested on
// PostgreSQL too, in package outbox).
func openDB(t *testing.T) *gorm.DB {
	t.Helper()
	gdb, err := db.Open(t.Context(), db.Options{Driver: db.DriverSQLite, DSN: dbtest.SQLiteDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(gdb) })
	if _, err := db.Up(t.Context(), gdb, db.DriverSQLite); err != nil {
		t.Fatal(err)
	}
	return gdb
}

// memSender keeps what it is asked to send.
type memSender struct {
	mu   sync.Mutex
	sent []Message
	err  error
}

func (s *memSender) Send(_ context.Context, m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.sent = append(s.sent, m)
	return nil
}

func (s *memSender) messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.sent...)
}

func newTestMailer(t *testing.T, o MailerOptions) (*Mailer, *outbox.Queue, *memSender, *gorm.DB) {
	t.Helper()
	gdb := openDB(t)
	ob := outbox.New(gdb, outbox.Options{})
	s := &memSender{}
	m, err := NewMailer(ob, s, o)
	if err != nil {
		t.Fatalf("NewMailer: %v", err)
	}
	return m, ob, s, gdb
}

func TestTemplatesRender(t *testing.T) {
	m, _, _, _ := newTestMailer(t, MailerOptions{Product: "Acme <Cloud> & Co", PublicURL: "https://auth.example.com"})
	data := Data{
		Code: "123456", ExpiryMinutes: 10, Link: "https://auth.example.com/invite/abc?x=1&y=2",
		NewEmail: "new@example.com", Workspace: "Ops <team>", Role: "admin", Inviter: "Bob",
		IP: "192.0.2.7", UserAgent: "Firefox/130", Time: time.Date(2030, 5, 6, 7, 8, 0, 0, time.UTC),
	}
	codeTemplates := map[string]bool{
		TemplateVerifyEmail: true, TemplateResetPassword: true, TemplateLoginCode: true, TemplateChangeEmail: true,
	}
	for _, name := range Templates() {
		t.Run(name, func(t *testing.T) {
			msg, err := m.Render("ann@example.com", name, data)
			if err != nil {
				t.Fatal(err)
			}
			if msg.To != "ann@example.com" || msg.Subject == "" || msg.Text == "" || msg.HTML == "" {
				t.Fatalf("incomplete message: %+v", msg)
			}
			if !strings.Contains(msg.Subject, "Acme <Cloud> & Co") && !strings.Contains(msg.Subject, "Ops <team>") {
				t.Errorf("subject %q names neither product nor workspace", msg.Subject)
			}
			if strings.Contains(msg.Subject, "123456") {
				t.Errorf("subject %q shows the code (previews and lock screens show subjects)", msg.Subject)
			}
			if codeTemplates[name] {
				for part, body := range map[string]string{"text": msg.Text, "html": msg.HTML} {
					if !strings.Contains(body, "123456") || !strings.Contains(body, "10 minutes") {
						t.Errorf("%s part lacks the code or its expiry:\n%s", part, body)
					}
				}
			}
			if strings.Contains(msg.HTML, "<Cloud>") || !strings.Contains(msg.HTML, "Acme &lt;Cloud&gt; &amp; Co") {
				t.Errorf("html does not escape the product name:\n%s", msg.HTML)
			}
			if !strings.Contains(msg.Text, "Acme <Cloud> & Co") {
				t.Errorf("text part escapes or lacks the product name:\n%s", msg.Text)
			}
			if !strings.HasSuffix(msg.Text, "\n") || strings.HasPrefix(msg.Text, "\n") {
				t.Errorf("text part is not trimmed to end in one newline: %q", msg.Text)
			}
		})
	}
}

func TestRenderDefaults(t *testing.T) {
	m, _, _, _ := newTestMailer(t, MailerOptions{PublicURL: "https://auth.example.com"})
	msg, err := m.Render("ann@example.com", TemplatePasswordChanged, &Data{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Gatehouse", "ann@example.com", "https://auth.example.com"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("text lacks default %q:\n%s", want, msg.Text)
		}
	}
	if _, err := m.Render("ann@example.com", "nope", Data{}); err == nil || !strings.Contains(err.Error(), `unknown template "nope"`) {
		t.Errorf("Render(unknown) = %v", err)
	}
}

func TestExpiry(t *testing.T) {
	cat, err := lang.New(lang.Builtin, "en")
	if err != nil {
		t.Fatal(err)
	}
	english := cat.In("en")
	tests := []struct {
		minutes int
		want    string
	}{
		{minutes: 1, want: "1 minute"},
		{minutes: 10, want: "10 minutes"},
		{minutes: 60, want: "1 hour"},
		{minutes: 90, want: "90 minutes"},
		{minutes: 120, want: "2 hours"},
		{minutes: 24 * 60, want: "1 day"},
		{minutes: 7 * 24 * 60, want: "7 days"},
		{minutes: 0, want: "0 minutes"},
	}
	for _, tc := range tests {
		d := Data{ExpiryMinutes: tc.minutes, L: english}
		if got := d.Expiry(); got != tc.want {
			t.Errorf("Expiry of %d minutes = %q, want %q", tc.minutes, got, tc.want)
		}
	}
}

func TestTemplateDir(t *testing.T) {
	tests := []struct {
		name    string
		dir     string
		wantErr string
	}{
		{name: "override", dir: "testdata/override"},
		{name: "missing dir", dir: "testdata/does-not-exist", wantErr: "template dir"},
		{name: "bad syntax", dir: "testdata/bad_syntax", wantErr: "bad_syntax/verify_email.html"},
		{name: "no subject block", dir: "testdata/no_subject", wantErr: `login_code.txt: no {{define "subject"}}`},
		{name: "unknown field", dir: "testdata/unknown_field", wantErr: "invite.txt"},
		{name: "misspelt file name", dir: "testdata/unknown_name", wantErr: "unknown template file verify-email.txt"},
		{name: "multi-line subject", dir: "testdata/multiline_subject", wantErr: "line break"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ob := outbox.New(nil, outbox.Options{}) // never touches the database here
			m, err := NewMailer(ob, &memSender{}, MailerOptions{TemplateDir: tc.dir, Product: "Acme"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewMailer = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			msg, err := m.Render("ann@example.com", TemplateVerifyEmail, Data{Code: "777777", ExpiryMinutes: 15})
			if err != nil {
				t.Fatal(err)
			}
			want := Message{
				To:      "ann@example.com",
				Subject: "[Acme] confirm ann@example.com",
				Text:    "Custom template. Code: 777777 (valid 15 minutes).\n",
			}
			got := msg
			got.HTML = "" // the HTML is still the embedded one
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("overridden message (-want +got):\n%s", diff)
			}
			if !strings.Contains(msg.HTML, "777777") || !strings.Contains(msg.HTML, "<!DOCTYPE html>") {
				t.Errorf("HTML is not the embedded template:\n%s", msg.HTML)
			}
		})
	}
}

func TestMailerSendThroughOutbox(t *testing.T) {
	m, ob, s, gdb := newTestMailer(t, MailerOptions{})
	ctx := t.Context()

	errRollback := errors.New("rollback")
	err := gdb.Transaction(func(tx *gorm.DB) error {
		if err := m.Send(ctx, tx, "eve@example.com", TemplateLoginCode, Data{Code: "111111"}); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	if err := m.Send(ctx, nil, "ann@example.com", TemplateLoginCode, Data{Code: "222222", ExpiryMinutes: 10}); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, nil, "ann@example.com\r\nBcc: eve@example.com", TemplateLoginCode, Data{Code: "333333"}); err == nil {
		t.Error("Send to an injected recipient succeeded")
	}
	if n, _ := ob.Depth(ctx); n != 1 {
		t.Fatalf("Depth = %d, want 1 (rolled back and refused mails are not queued)", n)
	}
	if err := ob.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	sent := s.messages()
	if len(sent) != 1 || sent[0].To != "ann@example.com" || !strings.Contains(sent[0].Text, "222222") {
		t.Fatalf("sent %+v, want one login code to ann@example.com", sent)
	}
}

func TestMailerRetriesAndDropsBadPayloads(t *testing.T) {
	_, ob, s, gdb := newTestMailer(t, MailerOptions{})
	ctx := t.Context()
	s.err = errors.New("smtp: 451 temporary failure")
	if err := ob.Enqueue(ctx, nil, db.OutboxMail, []byte(`{"to":"ann@example.com","subject":"S","text":"T"}`)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{`not json`, `{"to":"ann@example.com\r\nBcc: x@example.com","subject":"S"}`} {
		if err := ob.Enqueue(ctx, nil, db.OutboxMail, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var items []db.OutboxItem
	if err := gdb.Order("id").Find(&items).Error; err != nil {
		t.Fatal(err)
	}
	type row struct{ Status, LastError string }
	var got []row
	for _, it := range items {
		got = append(got, row{it.Status, it.LastError})
	}
	want := []row{
		{Status: db.OutboxPending, LastError: "smtp: 451 temporary failure"},
		{Status: db.OutboxDead, LastError: "mail: undecodable outbox payload: invalid character 'o' in literal null (expecting 'u')"},
		{Status: db.OutboxDead, LastError: "mail: recipient contains a line break"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outbox rows (-want +got):\n%s", diff)
	}
}

// End to end: Mailer.Send → outbox (its worker running) → SMTP over
// STARTTLS with AUTH → the sink, where the code is read out of the text
// part.
func TestMailerEndToEndSMTP(t *testing.T) {
	sink := mailtest.StartSinkWith(t, mailtest.Options{TLS: mailtest.TLSStartTLS, Username: testUser, Password: testPassword})
	s, err := NewSMTPSender(config.SMTP{
		Host: sink.Host, Port: sink.Port, TLS: config.TLSStartTLS,
		Username: testUser, Password: config.NewSecret(testPassword),
	}, "Gatehouse <no-reply@auth.example.com>")
	if err != nil {
		t.Fatal(err)
	}
	s.TLSConfig = sink.ClientTLSConfig()

	gdb := openDB(t)
	ob := outbox.New(gdb, outbox.Options{PollInterval: time.Minute}) // only Enqueue's poke can wake it in time
	m, err := NewMailer(ob, s, MailerOptions{Product: "Acme", PublicURL: "https://auth.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { ob.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	if err := m.Send(t.Context(), nil, "ann@example.com", TemplateVerifyEmail, Data{Code: "123456", ExpiryMinutes: 10}); err != nil {
		t.Fatal(err)
	}
	r := sink.WaitFor(t, "ann@example.com", 10*time.Second)
	if !r.TLS || r.AuthUser != testUser || r.AuthPassword != testPassword {
		t.Errorf("received TLS=%v as %q/%q, want TLS with the configured credentials", r.TLS, r.AuthUser, r.AuthPassword)
	}
	p := r.MustParse(t)
	if !strings.Contains(p.Text, "123456") || p.Code() != "123456" {
		t.Errorf("text part %q lacks the code 123456", p.Text)
	}
	if p.Subject != "Verify your email for Acme" {
		t.Errorf("Subject = %q", p.Subject)
	}
	if !strings.Contains(p.HTML, "123456") {
		t.Errorf("html part lacks the code:\n%s", p.HTML)
	}
	// The outbox forgets the delivered payload, code included.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var it db.OutboxItem
		if err := gdb.First(&it).Error; err != nil {
			t.Fatal(err)
		}
		if it.Status == db.OutboxDone {
			if it.Payload != "" {
				t.Errorf("done item keeps its payload %q", it.Payload)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("item still %q after delivery", it.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMailerEncryptsQueuedPayloads: with a Key, the code waiting in the
// outbox table is not readable; delivery still works.
func TestMailerEncryptsQueuedPayloads(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	m, ob, s, gdb := newTestMailer(t, MailerOptions{Key: key})
	ctx := t.Context()
	if err := m.Send(ctx, nil, "ann@example.com", TemplateLoginCode, Data{Code: "424242"}); err != nil {
		t.Fatal(err)
	}
	var items []db.OutboxItem
	if err := gdb.Find(&items).Error; err != nil || len(items) != 1 {
		t.Fatalf("outbox rows: %d, %v", len(items), err)
	}
	if strings.Contains(items[0].Payload, "424242") || strings.Contains(items[0].Payload, "ann@example.com") {
		t.Fatalf("the queued payload is readable: %q", items[0].Payload)
	}
	if err := ob.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if sent := s.messages(); len(sent) != 1 || !strings.Contains(sent[0].Text, "424242") {
		t.Fatalf("sent %+v", sent)
	}
	// Another key cannot open it: the item is dead, nothing is sent.
	other, _, _, _ := newTestMailer(t, MailerOptions{Key: bytes.Repeat([]byte{8}, 32)})
	if _, err := other.open([]byte(items[0].Payload)); err == nil {
		t.Fatal("a payload opened with another key")
	}
}
