package auth

import (
	"context"
	"math"

	"gorm.io/gorm"

	"gatehouse/gateway/codes"
	"gatehouse/gateway/db"
	"gatehouse/gateway/mail"
)

// codeTemplates maps a code purpose to its mail template.
var codeTemplates = map[string]string{
	codes.VerifyEmail:   "verify_email",
	codes.ResetPassword: "reset_password",
	codes.Login:         "login_code",
	codes.ChangeEmail:   "change_email",
}

// mailCode queues the message that carries a code.
func (s *Service) mailCode(ctx context.Context, tx *gorm.DB, email, purpose string, code codes.Code) error {
	return s.mailer.Send(ctx, tx, email, codeTemplates[purpose], mail.Data{
		Product:       s.o.ProductName,
		PublicURL:     s.public,
		Email:         email,
		Code:          code.Reveal(),
		ExpiryMinutes: int(math.Ceil(s.o.Accounts.Codes.TTL.Std().Minutes())),
		Lang:          s.languageOf(ctx, tx, email),
	})
}

// languageOf is the language the user of email last used ("" for none
// known: the default). tx, when set, sees a user created in it.
func (s *Service) languageOf(ctx context.Context, tx *gorm.DB, email string) string {
	if tx == nil {
		tx = s.db
	}
	var l []string
	if err := tx.WithContext(ctx).Model(&db.User{}).Where("email = ?", email).Limit(1).Pluck("language", &l).Error; err != nil || len(l) == 0 {
		return ""
	}
	return l[0]
}
