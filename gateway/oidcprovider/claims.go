package oidcprovider

import (
	"context"
	"errors"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway/db"
	"gatehouse/gateway/session"
)

// Claims beyond the standard ones.
const (
	claimRole          = "role"
	claimWorkspaceID   = "workspace_id"
	claimWorkspaceRole = "workspace_role"
	claimSID           = "sid"
)

// fillUserinfo sets the claims of u that scopes allow: sub always; email
// and email_verified (email); name, preferred_username, picture and
// updated_at (profile); role, workspace_id and workspace_role (roles; the
// workspace that was active at sign-in, while u is still a member); sid.
func (s *Service) fillUserinfo(ctx context.Context, info *oidc.UserInfo, u *db.User, scopes []string, sid, workspace string) error {
	info.Subject = u.ID
	if slices.Contains(scopes, config.ScopeEmail) {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(u.EmailVerified)
	}
	if slices.Contains(scopes, config.ScopeProfile) {
		info.Name = u.Name
		info.PreferredUsername = db.Text(u.Username)
		if info.PreferredUsername == "" {
			info.PreferredUsername = u.Email
		}
		info.Picture = u.AvatarURL
		info.UpdatedAt = oidc.FromTime(u.UpdatedAt)
	}
	if slices.Contains(scopes, config.ScopeRoles) {
		info.AppendClaims(claimRole, u.Role)
		if workspace != "" {
			var m db.Membership
			err := s.db.WithContext(ctx).Where("workspace_id = ? AND user_id = ?", workspace, u.ID).Take(&m).Error
			switch {
			case err == nil:
				info.AppendClaims(claimWorkspaceID, workspace)
				info.AppendClaims(claimWorkspaceRole, m.Role)
			case !errors.Is(err, gorm.ErrRecordNotFound):
				return fault(ctx, err)
			}
		}
	}
	if sid != "" {
		info.AppendClaims(claimSID, sid)
	}
	return nil
}

// amrOf is what the session says about how its user signed in, as RFC 8176
// method references: pwd (password), otp (an emailed code), hwk (a
// passkey), fed (Google, GitHub or another OpenID provider), and mfa when a
// second factor was passed too.
func amrOf(rec session.Record) []string {
	var out []string
	switch m := rec.Method; {
	case m == "password":
		out = append(out, "pwd")
	case m == "email_code":
		out = append(out, "otp")
	case m == "passkey":
		out = append(out, "hwk")
	case m != "":
		out = append(out, "fed")
	}
	if rec.MFA {
		out = append(out, "mfa")
	}
	return out
}
