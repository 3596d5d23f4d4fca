package mail

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"gorm.io/gorm"

	"gatehouse/gateway/db"
	"gatehouse/gateway/lang"
	"gatehouse/gateway/outbox"
)

// The embedded templates. Each name has two files: NAME.txt, a text/template
// defining "subject" and "text", and NAME.html, an html/template that is the
// HTML body.
//
//go:embed templates/*
var embedded embed.FS

// Template names.
const (
	TemplateVerifyEmail     = "verify_email"     // code to verify a new account's email
	TemplateResetPassword   = "reset_password"   // password reset code
	TemplateLoginCode       = "login_code"       // passwordless sign-in code
	TemplateChangeEmail     = "change_email"     // code sent to the new address
	TemplatePasswordChanged = "password_changed" // notification
	TemplateEmailChanged    = "email_changed"    // notification to the old address
	TemplateMFAEnabled      = "mfa_enabled"      // notification
	TemplateMFADisabled     = "mfa_disabled"     // notification
	TemplateNewSignIn       = "new_sign_in"      // notification
	TemplateInvite          = "invite"           // workspace invitation link
)

// TemplateFiles are the file names of every template (NAME.txt and
// NAME.html).
func TemplateFiles() []string {
	var out []string
	for _, n := range Templates() {
		out = append(out, n+".html", n+".txt")
	}
	return out
}

// Templates lists every template name, sorted.
func Templates() []string {
	return []string{
		TemplateChangeEmail, TemplateEmailChanged, TemplateInvite, TemplateLoginCode,
		TemplateMFADisabled, TemplateMFAEnabled, TemplateNewSignIn, TemplatePasswordChanged,
		TemplateResetPassword, TemplateVerifyEmail,
	}
}

// Data is what the templates show. Mailer.Send fills Product, PublicURL and
// Email from its options and recipient when they are empty. Fields a
// template does not use may stay empty.
type Data struct {
	// Product is the product name; default MailerOptions.Product.
	Product string
	// PublicURL is server.public_url; default MailerOptions.PublicURL.
	PublicURL string
	// Email is the account's address; default the recipient. In
	// email_changed (sent to the old address) it is the old one.
	Email string
	// NewEmail is the new address, in email_changed.
	NewEmail string
	// Code is the one-time code (verify_email, reset_password,
	// login_code, change_email). Secret: never logged.
	Code string
	// ExpiryMinutes is how long the code or invitation stays valid.
	ExpiryMinutes int
	// Link is a URL to act on (invite; optional elsewhere). It may carry a
	// token: never logged.
	Link string
	// Workspace, Role and Inviter describe an invitation.
	Workspace, Role, Inviter string
	// IP, UserAgent and Time describe the event notified (new_sign_in,
	// password_changed ...); zero values are left out.
	IP, UserAgent string
	Time          time.Time
	// Lang is the language to write in (the user's; "" = the default).
	Lang string
	// L is Lang's messages; set by the Mailer.
	L *lang.Localizer `json:"-"`
}

// Expiry is ExpiryMinutes in words: "10 minutes", "1 hour", "7 days".
func (d Data) Expiry() string {
	id, n := "mail.expiry.minutes", d.ExpiryMinutes
	switch {
	case n > 0 && n%(24*60) == 0:
		id, n = "mail.expiry.days", n/(24*60)
	case n > 0 && n%60 == 0:
		id, n = "mail.expiry.hours", n/60
	}
	return d.L.T(id, "Count", n)
}

// When is Time as the emails show it ("" when zero).
func (d Data) When() string {
	if d.Time.IsZero() {
		return ""
	}
	return d.Time.UTC().Format("2006-01-02 15:04 UTC")
}

// InviteSubject and InviteLine say who invites to what.
func (d Data) InviteSubject() string { return d.inviteMessage("mail.invite.subject") }

// InviteLine is the invitation's first sentence.
func (d Data) InviteLine() string { return d.inviteMessage("mail.invite.line") }

func (d Data) inviteMessage(id string) string {
	if d.Inviter != "" {
		id += "_by"
	}
	if d.Workspace != "" {
		id += "_workspace"
	}
	role := d.Role
	if role == "" {
		role = "member"
	}
	return d.L.T(id, "Product", d.Product, "Workspace", d.Workspace, "Inviter", d.Inviter, "Role", role)
}

// LogValue keeps Code and Link out of logs.
func (d Data) LogValue() slog.Value {
	return slog.GroupValue(slog.String("email", d.Email), slog.String("product", d.Product))
}

// MailerOptions configure a Mailer.
type MailerOptions struct {
	// Product is the name the templates show; default "Gatehouse".
	Product string
	// PublicURL is server.public_url, for links in templates.
	PublicURL string
	// TemplateDir, when set, is a directory of templates that replace the
	// embedded ones with the same file name (NAME.txt, NAME.html); a file
	// it lacks keeps the embedded version. Any other *.txt or *.html file
	// in it is an error (a misspelt name would otherwise be ignored).
	TemplateDir string
	// OtherTemplates are further file names TemplateDir may hold (the
	// pages' templates, when the directory is shared); they are left
	// alone.
	OtherTemplates []string
	// Catalog holds the languages (nil: the built-in ones, English by
	// default).
	Catalog *lang.Catalog
	// Key, when set (32 bytes), encrypts queued messages with AES-256-GCM,
	// so that the codes they carry are not readable in the outbox table
	// while they wait to be sent.
	Key []byte
}

// Mailer renders templates into Messages and sends them through the outbox:
// Send enqueues, and the outbox worker hands each message to the Sender.
type Mailer struct {
	ob        *outbox.Queue
	sender    Sender
	product   string
	publicURL string
	tmpls     map[string]template
	cat       *lang.Catalog
	aead      cipher.AEAD // nil: payloads are stored as JSON
}

// template is one parsed name.
type template struct {
	text *texttemplate.Template // defines "subject" and "text"
	html *htmltemplate.Template
}

// NewMailer parses the templates (failing on the first bad one, with its
// file name) and registers the outbox handler for kind "mail", which decodes
// each payload into a Message and passes it to s. ob's worker must run (or
// be drained) for mail to leave.
func NewMailer(ob *outbox.Queue, s Sender, o MailerOptions) (*Mailer, error) {
	if ob == nil || s == nil {
		return nil, errors.New("mail: NewMailer needs an outbox and a sender")
	}
	if o.Product == "" {
		o.Product = "Gatehouse"
	}
	tmpls, err := loadTemplates(o.TemplateDir, o.OtherTemplates)
	if err != nil {
		return nil, err
	}
	if o.Catalog == nil {
		if o.Catalog, err = lang.New(lang.Builtin, "en"); err != nil {
			return nil, err
		}
	}
	m := &Mailer{ob: ob, sender: s, product: o.Product, publicURL: o.PublicURL, tmpls: tmpls, cat: o.Catalog}
	if len(o.Key) > 0 {
		block, err := aes.NewCipher(o.Key)
		if err != nil {
			return nil, fmt.Errorf("mail: Key: %w", err)
		}
		if m.aead, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("mail: Key: %w", err)
		}
	}
	// Dry run, so that a template using a field Data lacks fails now
	// rather than when the first user signs up.
	for _, name := range Templates() {
		if _, err := m.Render("check@example.com", name, sampleData); err != nil {
			return nil, err
		}
	}
	ob.Handle(db.OutboxMail, m.deliver)
	return m, nil
}

// sampleData fills every field, for the dry run.
var sampleData = Data{
	Code: "000000", ExpiryMinutes: 10, Link: "https://example.com/link", NewEmail: "new@example.com",
	Workspace: "Acme", Role: "member", Inviter: "Ann", IP: "192.0.2.1", UserAgent: "Firefox",
	Time: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
}

// Send renders template tmpl for to with data and enqueues the message
// through tx (nil: the outbox's own database handle), so that a caller can
// send in the same transaction as its own write: the message leaves only if
// the transaction commits. data is usually a Data or *Data (see Data for
// the defaults filled in); templates from MailerOptions.TemplateDir must
// accept Data too.
func (m *Mailer) Send(ctx context.Context, tx *gorm.DB, to, tmpl string, data any) error {
	msg, err := m.Render(to, tmpl, data)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("mail: encode %s: %w", tmpl, err)
	}
	if m.aead != nil {
		nonce := make([]byte, m.aead.NonceSize(), m.aead.NonceSize()+len(payload)+m.aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return err
		}
		payload = []byte(sealedPrefix + base64.RawStdEncoding.EncodeToString(m.aead.Seal(nonce, nonce, payload, []byte(db.OutboxMail))))
	}
	return m.ob.Enqueue(ctx, tx, db.OutboxMail, payload)
}

// sealedPrefix marks an encrypted payload.
const sealedPrefix = "gcm1:"

// open decrypts a sealed payload; a plain JSON one passes as it is.
func (m *Mailer) open(payload []byte) ([]byte, error) {
	if !bytes.HasPrefix(payload, []byte(sealedPrefix)) {
		return payload, nil
	}
	if m.aead == nil {
		return nil, errors.New("mail: encrypted outbox payload but no Key")
	}
	raw, err := base64.RawStdEncoding.DecodeString(string(payload[len(sealedPrefix):]))
	if err != nil || len(raw) < m.aead.NonceSize() {
		return nil, errors.New("mail: malformed encrypted outbox payload")
	}
	n := m.aead.NonceSize()
	return m.aead.Open(nil, raw[:n], raw[n:], []byte(db.OutboxMail))
}

// Render renders template tmpl for to into a Message without sending it,
// e.g. for a preview. The subject is trimmed and must be one line.
func (m *Mailer) Render(to, tmpl string, data any) (Message, error) {
	t, ok := m.tmpls[tmpl]
	if !ok {
		return Message{}, fmt.Errorf("mail: unknown template %q", tmpl)
	}
	switch d := data.(type) {
	case Data:
		data = m.fill(d, to)
	case *Data:
		if d != nil {
			data = m.fill(*d, to)
		}
	}
	var subject, text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&subject, "subject", data); err != nil {
		return Message{}, fmt.Errorf("mail: template %s.txt: %w", tmpl, err)
	}
	if err := t.text.ExecuteTemplate(&text, "text", data); err != nil {
		return Message{}, fmt.Errorf("mail: template %s.txt: %w", tmpl, err)
	}
	if err := t.html.Execute(&html, data); err != nil {
		return Message{}, fmt.Errorf("mail: template %s.html: %w", tmpl, err)
	}
	msg := Message{
		To:      to,
		Subject: strings.TrimSpace(subject.String()),
		Text:    strings.TrimSpace(text.String()) + "\n",
		HTML:    strings.TrimSpace(html.String()),
	}
	if err := msg.Validate(); err != nil {
		return Message{}, fmt.Errorf("mail: template %s: %w", tmpl, err)
	}
	return msg, nil
}

func (m *Mailer) fill(d Data, to string) Data {
	if d.Product == "" {
		d.Product = m.product
	}
	if d.PublicURL == "" {
		d.PublicURL = m.publicURL
	}
	if d.Email == "" {
		d.Email = to
	}
	if !m.cat.Offers(d.Lang) {
		d.Lang = m.cat.Default()
	}
	d.L = m.cat.In(d.Lang)
	return d
}

// deliver is the outbox handler of kind "mail". A payload that cannot be a
// message is dead at once; a Sender error is retried.
func (m *Mailer) deliver(ctx context.Context, payload []byte) error {
	payload, err := m.open(payload)
	if err != nil {
		return outbox.Permanent(err)
	}
	var msg Message
	if err := json.Unmarshal(payload, &msg); err != nil {
		return outbox.Permanent(fmt.Errorf("mail: undecodable outbox payload: %w", err))
	}
	if err := msg.Validate(); err != nil {
		return outbox.Permanent(err)
	}
	return m.sender.Send(ctx, msg)
}

// loadTemplates parses every template, taking each file from dir when it
// is there and from the embedded set otherwise.
func loadTemplates(dir string, others []string) (map[string]template, error) {
	names := Templates()
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("mail: template dir: %w", err)
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if e.IsDir() || (ext != ".txt" && ext != ".html") || slices.Contains(others, e.Name()) {
				continue
			}
			if !slices.Contains(names, strings.TrimSuffix(e.Name(), ext)) {
				return nil, fmt.Errorf("mail: template dir %s: unknown template file %s (known: %s)",
					dir, e.Name(), strings.Join(names, ", "))
			}
		}
	}
	read := func(file string) (string, string, error) {
		if dir != "" {
			path := filepath.Join(dir, file)
			b, err := os.ReadFile(path)
			if err == nil {
				return string(b), path, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", "", fmt.Errorf("mail: template: %w", err)
			}
		}
		b, err := embedded.ReadFile("templates/" + file)
		return string(b), "embedded " + file, err
	}

	out := make(map[string]template, len(names))
	for _, name := range names {
		src, where, err := read(name + ".txt")
		if err != nil {
			return nil, err
		}
		tt, err := texttemplate.New(name).Parse(src)
		if err != nil {
			return nil, fmt.Errorf("mail: template %s: %w", where, err)
		}
		for _, block := range []string{"subject", "text"} {
			if tt.Lookup(block) == nil {
				return nil, fmt.Errorf("mail: template %s: no {{define %q}}", where, block)
			}
		}
		src, where, err = read(name + ".html")
		if err != nil {
			return nil, err
		}
		ht, err := htmltemplate.New(name).Parse(src)
		if err != nil {
			return nil, fmt.Errorf("mail: template %s: %w", where, err)
		}
		out[name] = template{text: tt, html: ht}
	}
	return out, nil
}
