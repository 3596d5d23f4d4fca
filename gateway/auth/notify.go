package auth

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
	"gatehouse/gateway/db"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/mail"
)

// Security notifications: a mail to the account's address when its
// password, email (to the old address) or second factor changes, and when
// it is signed in to from a device it was not signed in from before.
//
// They are queued on the durable outbox like every mail, but outside the
// change's transaction and best effort: a failure to queue one is logged
// and never fails the request (the change has happened).
//
// A "device" is the User-Agent with the client address's /24 (IPv4) or
// /64 (IPv6). The devices an account was signed in from are kept in the
// KV as a set of keyed hashes (never the address or agent themselves),
// for deviceTTL after the last sign-in. The first sign-in the set knows
// of (a new account, or one unused for deviceTTL) mails nothing.

const (
	deviceTTL  = 180 * 24 * time.Hour
	maxDevices = 50 // a larger set forgets one device per new one
)

// EventData is the mail data of a security event caused by this request.
func (s *Service) EventData(c *fiber.Ctx, email string) mail.Data {
	d := mail.Data{Product: s.o.ProductName, PublicURL: s.public, Email: email, Time: s.clock().UTC(), Lang: s.RequestLanguage(c)}
	if d.Lang == "" {
		d.Lang = s.languageOf(c.UserContext(), nil, email)
	}
	if ip := gateway.ClientIP(c); ip.IsValid() {
		d.IP = ip.String()
	}
	d.UserAgent = strings.Clone(httpx.Clip(c.Get(fiber.HeaderUserAgent), 256))
	return d
}

// Notify queues a security notification; a failure is logged only.
func (s *Service) Notify(ctx context.Context, to, template string, d mail.Data) {
	if s.mailer == nil || to == "" {
		return
	}
	if err := s.mailer.Send(ctx, nil, to, template, d); err != nil {
		s.log.Warn("security notification not queued", "template", template, "error", err)
	}
}

// SecurityEvent records an event about u caused by this request and mails
// u the matching security notification.
func (s *Service) SecurityEvent(c *fiber.Ctx, u *db.User, event, template string) {
	s.Emit(c, nil, event, u.ID, u.Email, nil)
	s.Notify(c.UserContext(), u.Email, template, s.EventData(c, u.Email))
}

// noteSignIn remembers the device of a successful sign-in of u and mails
// new_sign_in when the account knew other devices but not this one.
// Establish calls it, once per sign-in, whichever path signed in.
func (s *Service) noteSignIn(c *fiber.Ctx, u *db.User) {
	ctx := c.UserContext()
	dev := s.deviceID(gateway.ClientIP(c), c.Get(fiber.HeaderUserAgent))
	key := s.devicesKey(u.ID)
	known, err := s.kv.SMembers(ctx, key)
	if err != nil {
		s.log.Warn("sign-in devices unreadable", "user_id", u.ID, "error", err)
		return
	}
	if len(known) >= maxDevices && !slices.Contains(known, dev) {
		_ = s.kv.SRem(ctx, key, known[0])
	}
	if err := s.kv.SAdd(ctx, key, deviceTTL, dev); err != nil {
		s.log.Warn("sign-in device not recorded", "user_id", u.ID, "error", err)
	}
	if len(known) == 0 || slices.Contains(known, dev) {
		return
	}
	s.Notify(ctx, u.Email, mail.TemplateNewSignIn, s.EventData(c, u.Email))
}

func (s *Service) devicesKey(userID string) string { return s.Keyed("devices", userID) }

// deviceID is the keyed hash of a User-Agent and the network of ip.
func (s *Service) deviceID(ip netip.Addr, userAgent string) string {
	network := ""
	if ip.IsValid() {
		ip = ip.Unmap()
		bits := 64
		if ip.Is4() {
			bits = 24
		}
		if p, err := ip.Prefix(bits); err == nil {
			network = p.String()
		}
	}
	return s.Keyed("device", network+"\x00"+httpx.Clip(userAgent, 256))
}
