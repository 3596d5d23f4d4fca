package signin

import (
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/httpx"
	"gatehouse/gateway/users"

	"github.com/gofiber/fiber/v2"
	"gorm.io/gorm"
)

// register is POST /register.
func (s *Service) register(c *fiber.Ctx) error {
	ctx := c.UserContext()
	req, email, err := s.core.ReadRegistration(c)
	if err != nil {
		return err
	}
	if u, err := s.core.UserByEmail(ctx, email); err != nil {
		return err
	} else if u != nil {
		return gateway.EmailTaken()
	}
	if req.Username != "" {
		taken, err := s.core.UsernameTaken(ctx, req.Username)
		if err != nil {
			return gateway.Internal(err)
		}
		if taken {
			return gateway.UsernameTaken()
		}
	}
	hash, err := s.core.Passwords().Hash(ctx, req.Password)
	if err != nil {
		return gateway.Internal(err)
	}
	verify := s.o.Accounts.RequireEmailVerification
	u, err := s.core.CreateUser(ctx, auth.NewUser{Email: email, PasswordHash: hash, Username: req.Username, Name: req.Name, EmailVerified: !verify, Language: s.core.RequestLanguage(c)},
		func(tx *gorm.DB, u *db.User) error {
			if !verify {
				return nil
			}
			return s.core.SendCodeTx(ctx, tx, u.Email, codes.VerifyEmail, &u.ID)
		})
	if err != nil {
		return err
	}
	if !verify {
		return s.core.SignIn(c, u, "password", auth.SignInOptions{Status: fiber.StatusCreated,
			Extra: fiber.Map{"verification_required": false}, TokenMode: req.Session == "token"})
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"user": s.core.UserJSON(ctx, u), "verification_required": true})
}

type emailCodeReq struct {
	Email   string `json:"email"`
	Code    string `json:"code"`
	Session string `json:"session"`
}

// verifyEmail is POST /verify-email: the code verifies the address and
// signs in (method email_code).
func (s *Service) verifyEmail(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req emailCodeReq
	if err := httpx.Bind(c, &req); err != nil {
		return err
	}
	email, err := users.RequireEmail(req.Email)
	if err != nil {
		return err
	}
	if _, err := s.codes.Verify(ctx, email, codes.VerifyEmail, req.Code); err != nil {
		return err
	}
	u, err := s.core.UserByEmail(ctx, email)
	if err != nil {
		return err
	}
	if u == nil {
		return codes.InvalidCode(0)
	}
	if u.Blocked {
		return gateway.AccountBlocked()
	}
	if !u.EmailVerified {
		if err := s.db.WithContext(ctx).Model(&db.User{}).Where("id = ?", u.ID).
			Updates(map[string]any{"email_verified": true, "updated_at": s.clock().UTC()}).Error; err != nil {
			return gateway.Internal(err)
		}
		u.EmailVerified = true
		s.core.Emit(c, nil, events.UserVerified, u.ID, u.Email, map[string]any{"user_id": u.ID, "email": u.Email})
	}
	return s.finishSignIn(c, u, "email_code", req.Session == "token")
}

type emailReq struct {
	Email string `json:"email"`
}

// codeLimits spends the codes limit per IP and per normalised email,
// whether or not the email exists.
func (s *Service) codeLimits(c *fiber.Ctx, email string) error {
	return s.core.AllowCodes(c, email, "")
}

// codeRequest opens the "202 always" endpoints that mail a code: it reads
// {email}, spends the codes limit per IP and per normalised email (known or
// not) and loads the user. ok is false for a malformed address: answer 202
// and send nothing. u is nil for an unknown address.
func (s *Service) codeRequest(c *fiber.Ctx) (email string, u *db.User, ok bool, err error) {
	var req emailReq
	if err := httpx.Bind(c, &req); err != nil {
		return "", nil, false, err
	}
	email, nerr := users.NormalizeEmail(req.Email)
	if nerr != nil {
		email = req.Email // still limited: a malformed address is no free pass
	}
	if err := s.codeLimits(c, email); err != nil {
		return "", nil, false, err
	}
	if nerr != nil {
		return email, nil, false, nil
	}
	u, err = s.core.UserByEmail(c.UserContext(), email)
	return email, u, err == nil, err
}

// resendVerification is POST /verify-email/resend: 202 whatever happens.
func (s *Service) resendVerification(c *fiber.Ctx) error {
	_, u, ok, err := s.codeRequest(c)
	if err != nil {
		return err
	}
	if ok && u != nil && !u.EmailVerified && !u.Blocked {
		if err := s.core.SendCode(c.UserContext(), u.Email, codes.VerifyEmail, &u.ID); err != nil {
			return err
		}
	}
	return c.SendStatus(fiber.StatusAccepted)
}

// checkEmail is GET /check-email?email=.
func (s *Service) checkEmail(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := s.core.AllowCheckEmail(c); err != nil {
		return err
	}
	email, err := users.RequireEmail(c.Query("email"))
	if err != nil {
		return err
	}
	u, err := s.core.UserByEmail(ctx, email)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"available": u == nil})
}
