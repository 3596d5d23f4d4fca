package oidcprovider

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway/db"
	"gatehouse/gateway/events"
	"gatehouse/gateway/store"
)

// Lifetimes of what the ephemeral store keeps.
const (
	// authRequestTTL is how long a person has to sign in (an emailed code
	// included) between /authorize and the code.
	authRequestTTL = 15 * time.Minute
	// codeTTL is how long an authorization code may be exchanged.
	codeTTL = 60 * time.Second
	// usedCodeTTL is how long a used code is remembered, so that a replay
	// revokes what it issued.
	usedCodeTTL = 15 * time.Minute
)

// Store key prefixes.
const (
	keyRequest    = "oidc:req:"
	keyCode       = "oidc:code:"
	keyUsedCode   = "oidc:used:"
	keyRevoked    = "oidc:revoked:"
	keyDevice     = "oidc:dev:"
	keyDeviceUser = "oidc:devuser:"
)

// Token id forms (the access token's jti): "g.<grant>.<exp>.<random>" for
// a user's grant, "c.<exp>.<random>" for client credentials. A refresh
// token's id, as revoke sees it, is "r.<grant>".
const (
	tokenUser    = "g."
	tokenClient  = "c."
	tokenRefresh = "r."
)

// errNotFound is what the storage answers for an unknown request, code or
// token; pkg/op turns it into the protocol's error.
var errNotFound = errors.New("oidcprovider: not found or expired")

// faults holds the first error of the stores during one pkg/op request.
// pkg/op turns a storage error into a protocol answer about the token or
// the client (invalid_grant, an inactive token, "nothing to revoke"); an
// outage must not be such a verdict, so run answers it 503 instead.
type faults struct{ err error }

type faultsKey struct{}

// fault notes err, unless it only says "not found", in ctx's faults and
// returns it.
func fault(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, gorm.ErrRecordNotFound) {
		return err
	}
	if f, ok := ctx.Value(faultsKey{}).(*faults); ok && f.err == nil {
		f.err = err
	}
	return err
}

// faultKV is the ephemeral store with every failure noted (fault).
type faultKV struct{ store.KV }

func (k faultKV) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := k.KV.Get(ctx, key)
	return b, fault(ctx, err)
}

func (k faultKV) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return fault(ctx, k.KV.Set(ctx, key, val, ttl))
}

func (k faultKV) SetNX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	ok, err := k.KV.SetNX(ctx, key, val, ttl)
	return ok, fault(ctx, err)
}

func (k faultKV) GetDel(ctx context.Context, key string) ([]byte, error) {
	b, err := k.KV.GetDel(ctx, key)
	return b, fault(ctx, err)
}

func (k faultKV) Del(ctx context.Context, keys ...string) error {
	return fault(ctx, k.KV.Del(ctx, keys...))
}

// storage is the op.Storage of a Service: auth requests and codes in the
// ephemeral store, grants and refresh tokens in the database.
type storage struct{ *Service }

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Service) now() time.Time { return s.clock().UTC() }

// ---- auth requests and codes ----

func (st storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	cl, ok := st.clients[req.ClientID]
	if !ok {
		return nil, oidc.ErrInvalidClient()
	}
	if !cl.redirectAllowed(req.RedirectURI) {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("the redirect_uri is not registered for this client")
	}
	if req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if cl.c.Public && req.CodeChallenge == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("a public client must use PKCE (code_challenge with S256)")
	}
	if !slices.Contains(req.Scopes, oidc.ScopeOpenID) {
		return nil, oidc.ErrInvalidScope().WithDescription("the openid scope is required")
	}
	a := &authRequest{
		ID: randomID(18), CreatedAt: st.now(), ClientID: req.ClientID, RedirectURI: req.RedirectURI,
		State: req.State, Nonce: req.Nonce, Scopes: cl.restrict(req.Scopes), ResponseType: req.ResponseType,
		ResponseMode: req.ResponseMode, CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
		Prompt: req.Prompt, MaxAge: req.MaxAge, LoginHint: req.LoginHint, HintSubject: userID,
	}
	if err := st.saveRequest(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

func (st storage) saveRequest(ctx context.Context, a *authRequest) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	ttl := authRequestTTL - st.now().Sub(a.CreatedAt)
	if ttl <= 0 {
		return errNotFound
	}
	return st.kv.Set(ctx, keyRequest+a.ID, b, ttl)
}

// request reads an auth request by id.
func (st storage) request(ctx context.Context, id string) (*authRequest, error) {
	if id == "" || len(id) > 64 {
		return nil, errNotFound
	}
	b, err := st.kv.Get(ctx, keyRequest+id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	var a authRequest
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("oidcprovider: auth request %s: %w", id, err)
	}
	return &a, nil
}

func (st storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return st.request(ctx, id)
}

func (st storage) codeKey(code string) string { return st.keyed("oidc-code", code) }

func (st storage) SaveAuthCode(ctx context.Context, id, code string) error {
	a, err := st.request(ctx, id)
	if err != nil {
		return err
	}
	if a.CodeKey != "" {
		return oidc.ErrInvalidRequest().WithDescription("a code was issued for this request already")
	}
	a.CodeKey = st.codeKey(code)
	if err := st.kv.Set(ctx, keyCode+a.CodeKey, []byte(id), codeTTL); err != nil {
		return err
	}
	return st.saveRequest(ctx, a)
}

func (st storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	k := st.codeKey(code)
	id, err := st.kv.Get(ctx, keyCode+k)
	if errors.Is(err, store.ErrNotFound) {
		st.replayed(ctx, k)
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	a, err := st.request(ctx, string(id))
	if err != nil {
		return nil, err
	}
	if a.CodeKey != k || !a.IsDone {
		return nil, errNotFound
	}
	return a, nil
}

// replayed revokes the grant a used code issued, when code key k is one.
func (st storage) replayed(ctx context.Context, k string) {
	if grant, err := st.kv.Get(ctx, keyUsedCode+k); err == nil {
		st.revokeReplayed(ctx, string(grant), "code")
	}
}

// revokeReplayed revokes a grant whose used code or refresh token (kind)
// came back: a stolen copy, or a client that retries badly. The audit log
// records it.
func (st storage) revokeReplayed(ctx context.Context, grant, kind string) {
	if err := st.revokeGrant(ctx, grant); err != nil {
		st.log.Warn("oidc: revoking a grant after a replayed "+kind+" failed", "err", err)
		return
	}
	st.log.Warn("oidc: a used "+kind+" came back; its grant is revoked", "grant", grant)
	var g db.OIDCGrant
	if err := st.db.WithContext(ctx).Where("id = ?", grant).Take(&g).Error; err != nil {
		return
	}
	st.record(ctx, events.Record{Type: events.OIDCReplayed, SubjectID: db.Text(g.UserID),
		Data: map[string]any{"client_id": g.ClientID, "grant": g.ID, "token": kind}})
}

// consumeCode spends the code of a (its first use wins): it remembers that
// the code now belongs to grantID, then deletes it. A second use finds it
// remembered and revokes that grant.
func (st storage) consumeCode(ctx context.Context, a *authRequest, grantID string) error {
	if a.CodeKey == "" {
		return oidc.ErrInvalidGrant()
	}
	first, err := st.kv.SetNX(ctx, keyUsedCode+a.CodeKey, []byte(grantID), usedCodeTTL)
	if err != nil {
		return err
	}
	if !first {
		st.replayed(ctx, a.CodeKey)
		return oidc.ErrInvalidGrant().WithDescription("the code was used already")
	}
	if _, err := st.kv.GetDel(ctx, keyCode+a.CodeKey); errors.Is(err, store.ErrNotFound) {
		return oidc.ErrInvalidGrant().WithDescription("the code has expired")
	} else if err != nil {
		return err
	}
	return nil
}

func (st storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return st.kv.Del(ctx, keyRequest+id)
}

// ---- tokens ----

// accessTokenID is a new jti for a token of grant (or of a client, grant
// "") that expires at exp.
func accessTokenID(grant string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	if grant == "" {
		return tokenClient + e + "." + randomID(12)
	}
	return tokenUser + grant + "." + e + "." + randomID(12)
}

// parseTokenID splits a jti into its grant ("" for a client's token) and
// its expiry.
func parseTokenID(id string) (grant string, exp time.Time, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(id, tokenUser):
		parts := strings.Split(id[len(tokenUser):], ".")
		if len(parts) != 3 {
			return "", time.Time{}, false
		}
		grant, rest = parts[0], parts[1]
	case strings.HasPrefix(id, tokenClient):
		parts := strings.Split(id[len(tokenClient):], ".")
		if len(parts) != 2 {
			return "", time.Time{}, false
		}
		rest = parts[0]
	default:
		return "", time.Time{}, false
	}
	sec, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return grant, time.Unix(sec, 0).UTC(), true
}

func (st storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	exp := st.now().Add(st.o.Config.AccessTokenTTL.Std())
	if _, ok := req.(*clientCredentialsRequest); ok {
		return accessTokenID("", exp), exp, nil
	}
	// Without a refresh token the grant lasts as long as its access token.
	g, err := st.grantFor(ctx, req, exp)
	if err != nil {
		return "", time.Time{}, err
	}
	return accessTokenID(g.ID, exp), exp, nil
}

func (st storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, _ string) (string, string, time.Time, error) {
	exp := st.now().Add(st.o.Config.AccessTokenTTL.Std())
	if r, ok := req.(*refreshRequest); ok {
		refresh, err := st.rotate(ctx, r)
		if err != nil {
			return "", "", time.Time{}, err
		}
		return accessTokenID(r.grant.ID, exp), refresh, exp, nil
	}
	g, err := st.grantFor(ctx, req, st.now().Add(st.o.Config.RefreshTokenTTL.Std()))
	if err != nil {
		return "", "", time.Time{}, err
	}
	refresh, err := st.newRefreshToken(ctx, st.db, g.ID)
	if err != nil {
		return "", "", time.Time{}, fault(ctx, err)
	}
	return accessTokenID(g.ID, exp), refresh, exp, nil
}

// grantFor is the grant a token request issues tokens under: a refresh
// token's own, or a new one, until expires, for a finished authorization
// request (whose code it spends) or an approved device.
func (st storage) grantFor(ctx context.Context, req op.TokenRequest, expires time.Time) (*db.OIDCGrant, error) {
	g := &db.OIDCGrant{ID: db.NewID(), CreatedAt: st.now(), ExpiresAt: expires}
	var code *authRequest
	switch r := req.(type) {
	case *refreshRequest:
		return &r.grant, nil
	case *authRequest:
		at := r.AuthTime
		g.UserID, g.ClientID, g.Scopes, g.AMR, g.AuthTime = &r.UserID, r.ClientID, joinList(r.Scopes), joinList(r.AMR), &at
		g.SID, g.WorkspaceID, g.SessionVersion = r.SID, r.WorkspaceID, r.SessionVersion
		code = r
	case *op.DeviceAuthorizationState:
		u, err := st.core.UserByID(ctx, r.Subject)
		if err != nil {
			return nil, fault(ctx, err)
		}
		if u == nil || u.Blocked {
			return nil, oidc.ErrAccessDenied()
		}
		at := r.AuthTime
		g.UserID, g.ClientID, g.Scopes, g.AMR, g.AuthTime = &u.ID, r.ClientID, joinList(r.Scopes), joinList(r.AMR), &at
		g.SessionVersion = u.SessionVersion
	default:
		return nil, oidc.ErrUnsupportedGrantType()
	}
	// Written before the code is spent: a racing second use of the code,
	// which revokes the grant of the first, always finds it.
	if err := fault(ctx, st.db.WithContext(ctx).Create(g).Error); err != nil {
		return nil, err
	}
	if code != nil {
		if err := st.consumeCode(ctx, code, g.ID); err != nil {
			_ = st.revokeGrant(ctx, g.ID)
			return nil, err
		}
	}
	return g, nil
}

func (st storage) refreshHash(token string) string { return st.keyed("oidc-refresh", token) }

// newRefreshToken issues a refresh token of grant (stored as a keyed hash).
func (st storage) newRefreshToken(ctx context.Context, tx *gorm.DB, grant string) (string, error) {
	token := randomID(32)
	row := db.OIDCRefreshToken{GrantID: grant, TokenHash: st.refreshHash(token), CreatedAt: st.now()}
	if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
		return "", err
	}
	return token, nil
}

// rotate uses up the presented refresh token and issues its successor; a
// token used already (two refreshes racing, or a stolen copy) revokes the
// whole grant.
func (st storage) rotate(ctx context.Context, r *refreshRequest) (string, error) {
	var token string
	reused := false
	err := fault(ctx, st.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&db.OIDCRefreshToken{}).Where("id = ? AND used_at IS NULL", r.tokenID).Update("used_at", st.now())
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			reused = true
			return nil
		}
		var err error
		token, err = st.newRefreshToken(ctx, tx, r.grant.ID)
		return err
	}))
	if err != nil {
		return "", err
	}
	if reused {
		st.revokeReplayed(ctx, r.grant.ID, "refresh token")
		return "", oidc.ErrInvalidGrant().WithDescription("the refresh token was used already")
	}
	return token, nil
}

func (st storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	row, err := st.refreshRow(ctx, token)
	if err != nil {
		return nil, err
	}
	if row.UsedAt != nil {
		st.revokeReplayed(ctx, row.GrantID, "refresh token")
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was used already")
	}
	g, _, err := st.activeGrant(ctx, row.GrantID)
	if err != nil {
		return nil, err
	}
	return &refreshRequest{grant: *g, tokenID: row.ID, scopes: splitList(g.Scopes)}, nil
}

func (st storage) refreshRow(ctx context.Context, token string) (*db.OIDCRefreshToken, error) {
	if token == "" || len(token) > 128 {
		return nil, op.ErrInvalidRefreshToken
	}
	var row db.OIDCRefreshToken
	err := fault(ctx, st.db.WithContext(ctx).Where("token_hash = ?", st.refreshHash(token)).Take(&row).Error)
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, op.ErrInvalidRefreshToken
	}
	if err != nil {
		return nil, err
	}
	return &row, nil
}

// errInactive is a grant that was revoked, expired, or whose user may no
// longer use it.
var errInactive = errors.New("oidcprovider: grant revoked or expired")

// activeGrant loads a grant that may still be used: not revoked or
// expired, its user there, not blocked, not signed out everywhere since
// (session_version), and still of a role the client allows.
func (st storage) activeGrant(ctx context.Context, id string) (*db.OIDCGrant, *db.User, error) {
	g, err := st.grant(ctx, id)
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, errInactive
	}
	if err != nil {
		return nil, nil, err
	}
	if g.RevokedAt != nil || !st.now().Before(g.ExpiresAt) || g.UserID == nil {
		return nil, nil, errInactive
	}
	cl, ok := st.clients[g.ClientID]
	if !ok {
		return nil, nil, errInactive
	}
	u, err := st.core.UserByID(ctx, *g.UserID)
	if err != nil {
		return nil, nil, fault(ctx, err)
	}
	if u == nil || u.Blocked || u.SessionVersion != g.SessionVersion || !cl.roleAllowed(u.Role) {
		return nil, nil, errInactive
	}
	return g, u, nil
}

// grant reads a grant by id (gorm.ErrRecordNotFound when there is none).
func (st storage) grant(ctx context.Context, id string) (*db.OIDCGrant, error) {
	var g db.OIDCGrant
	if err := fault(ctx, st.db.WithContext(ctx).Where("id = ?", id).Take(&g).Error); err != nil {
		return nil, err
	}
	return &g, nil
}

// revokeGrant ends a grant: its refresh tokens and access tokens stop
// working on every replica (they all read the row).
func (st storage) revokeGrant(ctx context.Context, id string) error {
	return fault(ctx, st.db.WithContext(ctx).Model(&db.OIDCGrant{}).Where("id = ? AND revoked_at IS NULL", id).
		Update("revoked_at", st.now()).Error)
}

// activeToken checks an access token's jti: not revoked, and its grant
// still active (a client's token: its client still configured).
func (st storage) activeToken(ctx context.Context, tokenID, subject string) (*db.OIDCGrant, *db.User, error) {
	grant, exp, ok := parseTokenID(tokenID)
	if !ok || !st.now().Before(exp) {
		return nil, nil, errInactive
	}
	if _, err := st.kv.Get(ctx, keyRevoked+tokenID); err == nil {
		return nil, nil, errInactive
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	if grant == "" {
		if _, ok := st.clients[subject]; !ok {
			return nil, nil, errInactive
		}
		return nil, nil, nil
	}
	g, u, err := st.activeGrant(ctx, grant)
	if err != nil {
		return nil, nil, err
	}
	if u.ID != subject {
		return nil, nil, errInactive
	}
	return g, u, nil
}

func (st storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	row, err := st.refreshRow(ctx, token)
	if err != nil {
		return "", "", err
	}
	g, err := st.grant(ctx, row.GrantID)
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", err
	}
	return db.Text(g.UserID), tokenRefresh + g.ID, nil
}

func (st storage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	grantID, isRefresh := strings.CutPrefix(tokenOrID, tokenRefresh)
	var exp time.Time
	if !isRefresh {
		var ok bool
		if grantID, exp, ok = parseTokenID(tokenOrID); !ok {
			return nil // not one of ours: nothing to revoke (RFC 7009 §2.2)
		}
	}
	owner := userID // a client's token: its subject is the client
	if grantID != "" {
		g, err := st.grant(ctx, grantID)
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil // purged: nothing to revoke
		}
		if err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		owner = g.ClientID
	}
	if owner != clientID {
		return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
	}
	if isRefresh { // the whole grant
		if err := st.revokeGrant(ctx, grantID); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		return nil
	}
	if ttl := exp.Sub(st.now()); ttl > 0 { // the access token alone
		if err := st.kv.Set(ctx, keyRevoked+tokenOrID, []byte{1}, ttl+time.Minute); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
	}
	return nil
}

// ---- keys ----

type signingKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key any
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key any
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }

func (st storage) SigningKey(context.Context) (op.SigningKey, error) {
	k, err := st.signer.Current()
	if err != nil {
		return nil, err
	}
	alg := jose.SignatureAlgorithm(k.Algorithm)
	return signingKey{id: k.Kid, alg: alg, key: opaqueSigner{kid: k.Kid, alg: alg, s: k.Signer}}, nil
}

// opaqueSigner signs with a crypto.Signer that does not show its private
// key (gateway/keys keeps it to itself): go-jose's OpaqueSigner. Only
// RS256 (PKCS #1 v1.5 over SHA-256) is needed: ID and access tokens.
type opaqueSigner struct {
	kid string
	alg jose.SignatureAlgorithm
	s   crypto.Signer
}

func (o opaqueSigner) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: o.s.Public(), KeyID: o.kid, Algorithm: string(o.alg), Use: "sig"}
}

func (o opaqueSigner) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{o.alg} }

func (o opaqueSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.RS256 || o.alg != jose.RS256 {
		return nil, fmt.Errorf("oidcprovider: cannot sign %s with a %s key", alg, o.alg)
	}
	sum := sha256.Sum256(payload)
	return o.s.Sign(rand.Reader, sum[:], crypto.SHA256)
}

func (st storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	k, err := st.signer.Current()
	if err != nil {
		return nil, err
	}
	return []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.Algorithm)}, nil
}

func (st storage) KeySet(context.Context) ([]op.Key, error) {
	pub := st.published.PublicKeys()
	out := make([]op.Key, 0, len(pub))
	for _, k := range pub {
		out = append(out, publicKey{id: k.Kid, alg: jose.SignatureAlgorithm(k.Algorithm), key: k.Key})
	}
	return out, nil
}

// ---- clients ----

func (st storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	cl, ok := st.clients[id]
	if !ok {
		return nil, errNotFound
	}
	return cl, nil
}

func (st storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	cl, ok := st.clients[id]
	if !ok || !cl.secretMatches(secret) {
		return oidc.ErrInvalidClient().WithDescription("unknown client or wrong secret")
	}
	return nil
}

func (st storage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := st.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	return st.clients[id], nil
}

func (st storage) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	cl, ok := st.clients[id]
	if !ok || !cl.c.HasGrant(config.GrantClientCredentials) {
		return nil, oidc.ErrUnauthorizedClient()
	}
	kept := slices.DeleteFunc(cl.restrict(scopes), func(s string) bool {
		return s == oidc.ScopeOpenID || s == oidc.ScopeOfflineAccess
	})
	return &clientCredentialsRequest{clientID: id, scopes: kept}, nil
}

// ---- claims ----

func (st storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil // deprecated by pkg/op; SetUserinfoFromRequest does it
}

func (st storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	u, err := st.core.UserByID(ctx, req.GetSubject())
	if err != nil {
		return fault(ctx, err)
	}
	if u == nil {
		return oidc.ErrAccessDenied()
	}
	var sid, ws string
	switch r := req.(type) {
	case *authRequest:
		sid, ws = r.SID, r.WorkspaceID
	case *refreshRequest:
		sid, ws = r.grant.SID, r.grant.WorkspaceID
	}
	return st.fillUserinfo(ctx, info, u, scopes, sid, ws)
}

func (st storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	g, u, err := st.activeToken(ctx, tokenID, subject)
	if err != nil {
		return oidc.ErrAccessDenied().WithDescription("the access token is not active")
	}
	if g == nil {
		info.Subject = subject
		return nil
	}
	return st.fillUserinfo(ctx, info, u, splitList(g.Scopes), g.SID, g.WorkspaceID)
}

func (st storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, _ string) error {
	g, u, err := st.activeToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	_, exp, _ := parseTokenID(tokenID)
	resp.Expiration = oidc.FromTime(exp)
	resp.TokenType = oidc.BearerToken
	resp.JWTID = tokenID
	if g == nil {
		resp.Subject, resp.ClientID, resp.Audience = subject, subject, []string{subject}
		return nil
	}
	scopes := splitList(g.Scopes)
	resp.Scope = scopes
	resp.ClientID = g.ClientID
	resp.Audience = []string{g.ClientID}
	info := new(oidc.UserInfo)
	if err := st.fillUserinfo(ctx, info, u, scopes, g.SID, g.WorkspaceID); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Username = info.PreferredUsername
	return nil
}

func (st storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (st storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("oidcprovider: private_key_jwt is not supported")
}

func (st storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("oidcprovider: the JWT profile grant is not supported")
}

func (st storage) TerminateSession(context.Context, string, string) error { return nil }

func (st storage) Health(context.Context) error { return nil }

var (
	_ op.Storage                   = storage{}
	_ op.ClientCredentialsStorage  = storage{}
	_ op.CanSetUserinfoFromRequest = storage{}
)
