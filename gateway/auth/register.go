package auth

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"

	"gatehouse/gateway"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/users"
)

// RegisterRequest is the body of POST /register (and of a sign-up with
// an invite).
type RegisterRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Session  string `json:"session"`
}

// ValidateRegistration checks a sign-ups fields, collecting every
// problem, and returns the normalised email.
func (s *Service) ValidateRegistration(req *RegisterRequest) (email string, err error) {
	fields := map[string]string{}
	email, eerr := users.NormalizeEmail(req.Email)
	if eerr != nil {
		fields["email"] = "not a valid email address"
	}
	if req.Username != "" {
		if err := users.ValidUsername(req.Username); err != nil {
			fields["username"] = "3 to 255 letters, digits, _ or -"
		}
	}
	if len(req.Name) > 255 {
		fields["name"] = "at most 255 characters"
	}
	if msg := s.PasswordProblem(req.Password, email, req.Username); msg != "" {
		fields["password"] = msg
	}
	if len(fields) > 0 {
		return "", gateway.ValidationFailed(fields)
	}
	return email, nil
}

// SendCode issues a code for (email, purpose) and enqueues its mail, in one
// transaction. Inside the resend cooldown it does nothing.
func (s *Service) SendCode(ctx context.Context, email, purpose string, userID *string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return s.SendCodeTx(ctx, tx, email, purpose, userID)
	})
}

// SendCodeTx is sendCode inside the caller's transaction.
func (s *Service) SendCodeTx(ctx context.Context, tx *gorm.DB, email, purpose string, userID *string) error {
	code, sent, err := s.codes.Issue(ctx, tx, email, purpose, userID)
	if err != nil {
		return gateway.Internal(err)
	}
	if !sent {
		return nil
	}
	if err := s.mailCode(ctx, tx, email, purpose, code); err != nil {
		return gateway.Internal(err)
	}
	return nil
}

// ReadRegistration reads a password sign-up (POST /register, and a
// sign-up with an invite): 404 when password sign-up is off, then the
// body, the registration rate limit per IP and the fields. It returns the
// request and its normalised email.
func (s *Service) ReadRegistration(c *fiber.Ctx) (RegisterRequest, string, error) {
	var req RegisterRequest
	if !s.o.PasswordLogin {
		return req, "", gateway.NotFound()
	}
	if err := httpx.Bind(c, &req); err != nil {
		return req, "", err
	}
	if err := s.AllowRegistration(c); err != nil {
		return req, "", err
	}
	email, err := s.ValidateRegistration(&req)
	return req, email, err
}
