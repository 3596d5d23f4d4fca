package oidcprovider

import (
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"gatehouse/gateway/db"
)

// authRequest is an authorization request between /authorize and the code
// exchange, kept in the ephemeral store (JSON) under its id.
type authRequest struct {
	ID                  string                   `json:"id"`
	CreatedAt           time.Time                `json:"created_at"`
	ClientID            string                   `json:"client_id"`
	RedirectURI         string                   `json:"redirect_uri"`
	State               string                   `json:"state,omitempty"`
	Nonce               string                   `json:"nonce,omitempty"`
	Scopes              []string                 `json:"scopes"`
	ResponseType        oidc.ResponseType        `json:"response_type"`
	ResponseMode        oidc.ResponseMode        `json:"response_mode,omitempty"`
	CodeChallenge       string                   `json:"code_challenge,omitempty"`
	CodeChallengeMethod oidc.CodeChallengeMethod `json:"code_challenge_method,omitempty"`
	Prompt              []string                 `json:"prompt,omitempty"`
	MaxAge              *uint                    `json:"max_age,omitempty"`
	LoginHint           string                   `json:"login_hint,omitempty"`
	HintSubject         string                   `json:"hint_subject,omitempty"` // id_token_hint's sub

	// Set when the user has signed in and consented (Done).
	UserID         string    `json:"user_id,omitempty"`
	AuthTime       time.Time `json:"auth_time,omitzero"`
	AMR            []string  `json:"amr,omitempty"`
	SID            string    `json:"sid,omitempty"`
	WorkspaceID    string    `json:"workspace_id,omitempty"`
	SessionVersion int       `json:"session_version,omitempty"`
	IsDone         bool      `json:"done,omitempty"`
	Consented      bool      `json:"consented,omitempty"` // the consent page said allow
	// CodeKey is the store key of the code issued for it.
	CodeKey string `json:"code_key,omitempty"`
}

func (a *authRequest) GetID() string                      { return a.ID }
func (a *authRequest) GetACR() string                     { return "" }
func (a *authRequest) GetAMR() []string                   { return a.AMR }
func (a *authRequest) GetAudience() []string              { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.AuthTime }
func (a *authRequest) GetClientID() string                { return a.ClientID }
func (a *authRequest) GetNonce() string                   { return a.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.Scopes }
func (a *authRequest) GetState() string                   { return a.State }
func (a *authRequest) GetSubject() string                 { return a.UserID }
func (a *authRequest) Done() bool                         { return a.IsDone }

func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: a.CodeChallengeMethod}
}

// hasPrompt says whether the request asked for prompt p.
func (a *authRequest) hasPrompt(p string) bool { return slices.Contains(a.Prompt, p) }

// refreshRequest is a refresh token's grant, as the token endpoint sees it.
type refreshRequest struct {
	grant   db.OIDCGrant
	tokenID string // the presented refresh token's row
	scopes  []string
}

func (r *refreshRequest) GetAMR() []string      { return splitList(r.grant.AMR) }
func (r *refreshRequest) GetAudience() []string { return []string{r.grant.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time {
	if r.grant.AuthTime == nil {
		return time.Time{}
	}
	return *r.grant.AuthTime
}
func (r *refreshRequest) GetClientID() string         { return r.grant.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return db.Text(r.grant.UserID) }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// clientCredentialsRequest is a client credentials grant: the client is the
// subject.
type clientCredentialsRequest struct {
	clientID string
	scopes   []string
}

func (r *clientCredentialsRequest) GetSubject() string    { return r.clientID }
func (r *clientCredentialsRequest) GetAudience() []string { return []string{r.clientID} }
func (r *clientCredentialsRequest) GetScopes() []string   { return r.scopes }

var (
	_ op.AuthRequest         = (*authRequest)(nil)
	_ op.RefreshTokenRequest = (*refreshRequest)(nil)
	_ op.TokenRequest        = (*clientCredentialsRequest)(nil)
)

func splitList(s string) []string { return strings.Fields(s) }

func joinList(v []string) string { return strings.Join(v, " ") }
