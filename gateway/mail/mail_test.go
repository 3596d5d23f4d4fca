package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gatehouse/config"
)

func TestMessageValidate(t *testing.T) {
	ok := Message{To: "ann@example.com", Subject: "Hello", Text: "body\n.\nmore"}
	tests := []struct {
		name    string
		edit    func(m *Message)
		wantErr string // "" = valid
	}{
		{name: "valid", edit: func(*Message) {}},
		{name: "non-ASCII subject", edit: func(m *Message) { m.Subject = "Vérifiez votre adresse ✓" }},
		{name: "empty recipient", edit: func(m *Message) { m.To = "" }, wantErr: "empty recipient"},
		{name: "CRLF in recipient", edit: func(m *Message) { m.To = "ann@example.com\r\nBcc: eve@example.com" }, wantErr: "line break"},
		{name: "LF in recipient", edit: func(m *Message) { m.To = "ann@example.com\nBcc: eve@example.com" }, wantErr: "line break"},
		{name: "display name", edit: func(m *Message) { m.To = "Ann <ann@example.com>" }, wantErr: "not a bare address"},
		{name: "two recipients", edit: func(m *Message) { m.To = "ann@example.com, eve@example.com" }, wantErr: "not a bare address"},
		{name: "not an address", edit: func(m *Message) { m.To = "ann" }, wantErr: "not a bare address"},
		{name: "CRLF in subject", edit: func(m *Message) { m.Subject = "Hi\r\nBcc: eve@example.com" }, wantErr: "line break"},
		{name: "CR in subject", edit: func(m *Message) { m.Subject = "Hi\rBcc: eve@example.com" }, wantErr: "line break"},
		{name: "empty subject", edit: func(m *Message) { m.Subject = "  " }, wantErr: "empty subject"},
		{name: "huge subject", edit: func(m *Message) { m.Subject = strings.Repeat("x", 301) }, wantErr: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			tc.edit(&m)
			err := m.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestMessageLogValueHidesBodies(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("x", "msg", Message{To: "ann@example.com", Subject: "S", Text: "code 123456", HTML: "<p>123456</p>"})
	if strings.Contains(buf.String(), "123456") || !strings.Contains(buf.String(), "ann@example.com") {
		t.Errorf("log = %q, want the recipient and no body", buf.String())
	}
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	s := NewLogSender(slog.New(slog.NewJSONHandler(&buf, nil)))
	m := Message{To: "ann@example.com", Subject: "Verify your email", Text: "Your code is 123456\n", HTML: "<p>123456</p>"}
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	got := map[string]any{"level": rec["level"], "to": rec["to"], "subject": rec["subject"], "text": rec["text"]}
	want := map[string]any{"level": "INFO", "to": m.To, "subject": m.Subject, "text": m.Text}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log record (-want +got):\n%s", diff)
	}
	if !strings.Contains(rec["msg"].(string), "not for production") {
		t.Errorf("msg = %q, want a warning that the driver is not for production", rec["msg"])
	}

	buf.Reset()
	if err := s.Send(context.Background(), Message{To: "x@example.com\r\nBcc: y@example.com", Subject: "s"}); err == nil {
		t.Error("Send with an injected header succeeded")
	}
	if buf.Len() != 0 {
		t.Errorf("refused message was logged: %s", buf.String())
	}
}

func TestNewSender(t *testing.T) {
	tests := []struct {
		name     string
		cfg      config.Mail
		wantType string
		wantErr  string
	}{
		{name: "log", cfg: config.Mail{Driver: config.MailLog}, wantType: "*mail.LogSender"},
		{name: "empty is log", cfg: config.Mail{}, wantType: "*mail.LogSender"},
		{name: "smtp", cfg: config.Mail{Driver: config.MailSMTP, From: "Gatehouse <no-reply@example.com>",
			SMTP: config.SMTP{Host: "smtp.example.com", Port: 587, TLS: config.TLSStartTLS}}, wantType: "*mail.SMTPSender"},
		{name: "smtp without host", cfg: config.Mail{Driver: config.MailSMTP, From: "a@example.com"}, wantErr: "mail.smtp.host"},
		{name: "unknown driver", cfg: config.Mail{Driver: "sendmail"}, wantErr: `unknown driver "sendmail"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSender(tc.cfg, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewSender = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := typeName(s); got != tc.wantType {
				t.Errorf("NewSender type = %s, want %s", got, tc.wantType)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *LogSender:
		return "*mail.LogSender"
	case *SMTPSender:
		return "*mail.SMTPSender"
	}
	return "other"
}
