// Package mail sends Gatehouse's emails: verification, password-reset,
// login and change-email codes (SPEC §5) and security notifications.
//
// A Mailer renders a named template into a Message and enqueues it on the
// durable outbox, in the caller's transaction when it passes one; the outbox
// worker later hands the Message to a Sender, retrying with backoff. Two
// Senders exist, chosen by mail.driver:
//
//   - log: writes each message, code included, to the log. For local use
//     only; production must use smtp.
//   - smtp: submits to an SMTP server (tls: none, starttls or tls; AUTH PLAIN
//     when a username is set).
//
// Example configuration:
//
//	mail:
//	  driver: smtp
//	  from: "Gatehouse <no-reply@example.com>"
//	  smtp: { host: smtp.example.com, port: 587, username: gatehouse, password: ${SMTP_PASSWORD}, tls: starttls }
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"

	"gatehouse/config"
)

// Message is one email. To is a bare address ("ann@example.com", no display
// name). Text is the plain-text body; HTML, when not empty, is sent beside
// it as a multipart/alternative message.
type Message struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

// maxSubjectLen keeps the Subject header well inside SMTP's 998-byte line
// limit, even once RFC 2047-encoded.
const maxSubjectLen = 300

// Validate checks what a Sender relies on: To is one bare address and
// neither To nor Subject can inject a header (no CR or LF).
func (m Message) Validate() error {
	if err := validAddress(m.To); err != nil {
		return err
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("mail: subject contains a line break")
	}
	if strings.TrimSpace(m.Subject) == "" {
		return errors.New("mail: empty subject")
	}
	if len(m.Subject) > maxSubjectLen {
		return fmt.Errorf("mail: subject longer than %d bytes", maxSubjectLen)
	}
	return nil
}

// LogValue keeps the bodies, which hold codes and links, out of logs.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(slog.String("to", m.To), slog.String("subject", m.Subject))
}

// validAddress accepts one bare address and nothing else.
func validAddress(to string) error {
	if to == "" {
		return errors.New("mail: empty recipient")
	}
	if strings.ContainsAny(to, "\r\n") {
		return errors.New("mail: recipient contains a line break")
	}
	a, err := mail.ParseAddress(to)
	if err != nil || a.Name != "" || a.Address != to {
		return fmt.Errorf("mail: recipient %q is not a bare address", to)
	}
	return nil
}

// Sender delivers one Message. Its errors are stored in the outbox and
// logged, so they never contain a secret.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// NewSender returns the Sender that cfg.Driver names: a LogSender writing to
// log, or an SMTPSender for cfg.SMTP sending from cfg.From.
func NewSender(cfg config.Mail, log *slog.Logger) (Sender, error) {
	switch cfg.Driver {
	case config.MailLog, "":
		return NewLogSender(log), nil
	case config.MailSMTP:
		return NewSMTPSender(cfg.SMTP, cfg.From)
	default:
		return nil, fmt.Errorf("mail.driver: unknown driver %q (want %q or %q)", cfg.Driver, config.MailLog, config.MailSMTP)
	}
}

// LogSender is the "log" mail driver, the embedded default.
//
// WARNING: it writes every message to the log IN THE CLEAR, the text body
// included, and the body holds verification, login and password-reset
// codes. That is its whole purpose: to let someone running Gatehouse
// locally read the codes it "sends". Anyone who can read the log can take
// over any account. Production MUST use the smtp driver.
//
// It is the one documented exception to the rule that codes never reach a
// log.
type LogSender struct {
	log *slog.Logger
}

var _ Sender = (*LogSender)(nil)

// NewLogSender returns a LogSender writing to log (nil discards, which makes
// every message vanish). Read the warning on LogSender.
func NewLogSender(log *slog.Logger) *LogSender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LogSender{log: log}
}

// Send logs m's recipient, subject and text body at Info.
func (s *LogSender) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "mail (log driver, not for production): message not sent, body follows",
		"to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}
