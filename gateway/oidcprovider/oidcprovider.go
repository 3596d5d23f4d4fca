// Package oidcprovider makes Gatehouse an OpenID Connect provider: apps
// that speak OpenID Connect (Grafana, GitLab, an SPA, a CLI) sign their
// users in through Gatehouse's hosted pages. The protocol is
// github.com/zitadel/oidc's pkg/op (discovery, authorize, token, userinfo,
// jwks, revoke, introspect, end_session, device_authorization); this
// package is its storage on Gatehouse's stores, the sign-in loop through
// the hosted pages, and the consent and device pages.
//
// What lives where:
//   - An authorization request, from /authorize until its code is
//     exchanged, is in the ephemeral store (15 minutes to sign in); its code
//     lives 60 s and is single use: a replayed code revokes what it issued.
//   - A grant (oidc_grants) is one sign-in into one client: the family of
//     its refresh tokens (oidc_refresh_tokens, keyed hashes, rotated at each
//     use; a reused one revokes the grant). Access tokens are RS256 JWTs
//     whose jti names their grant, so userinfo and introspection see a
//     revoked grant at once on every replica.
//   - A grant stops working when its user is blocked, deleted, signed out
//     everywhere or changes password (users.session_version moves), or
//     loses the role the client allows.
//   - Explicit consent is remembered per user and client (oidc_consents),
//     with the scopes granted; the account page lists and revokes it.
package oidcprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
	"gorm.io/gorm"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/auth"
	"gatehouse/gateway/events"
	"gatehouse/gateway/keys"
	"gatehouse/gateway/pages"
	"gatehouse/gateway/session"
	"gatehouse/gateway/store"
)

// Signer is the key ring ID and access tokens are signed with (the RS256
// keys.Ring).
type Signer interface {
	Current() (keys.SigningKey, error)
}

// Published is every key the jwks endpoint serves (a keys.Set).
type Published interface {
	PublicKeys() []keys.PublicKey
}

// Options configures the provider.
type Options struct {
	// Config is the oidc_provider section.
	Config config.OIDCProvider
	// Issuer is the effective issuer URL (config.IssuerURL).
	Issuer string
	// PublicURL (no trailing slash) and AuthPrefix place the hosted pages.
	PublicURL, AuthPrefix string
	// Key derives the AES key of pkg/op's codes and the keyed hashes of
	// codes, refresh tokens and device codes (a key of its own).
	Key []byte
	// Languages are the pages' languages, advertised as ui_locales.
	Languages []string
}

// Deps are the services the provider runs on.
type Deps struct {
	Core     *auth.Service
	DB       *gorm.DB
	KV       store.KV
	Limiter  store.Limiter
	Sessions *session.Store
	// Signer signs the tokens; Published are the keys jwks serves.
	Signer    Signer
	Published Published
	// Events records what no request of the user's own sees (a replayed
	// token, a disconnected app); nil records nothing.
	Events *events.Emitter
	Logger *slog.Logger
	// Clock tells the time; nil means time.Now.
	Clock func() time.Time
}

// Service is the OpenID Connect provider.
type Service struct {
	o         Options
	core      *auth.Service
	pages     *pages.Pages
	db        *gorm.DB
	kv        store.KV
	limiter   store.Limiter
	sessions  *session.Store
	signer    Signer
	published Published
	events    *events.Emitter
	log       *slog.Logger
	clock     func() time.Time
	clients   map[string]*client
	provider  *op.Provider
	// issuerPath is the issuer's path below auth_prefix ("" or "/oidc").
	issuerPath string
	keyed      func(kind, v string) string
	tokens     *prometheus.CounterVec
}

// Collectors are the provider's metrics: gatehouse_oidc_tokens_total by
// grant type and result ("issued" or the OAuth error).
func (s *Service) Collectors() []prometheus.Collector { return []prometheus.Collector{s.tokens} }

// New builds the provider for the configured clients.
func New(o Options, d Deps) (*Service, error) {
	s := &Service{o: o, core: d.Core, pages: d.Core.Pages(), db: d.DB, kv: faultKV{d.KV}, limiter: d.Limiter, sessions: d.Sessions,
		signer: d.Signer, published: d.Published, events: d.Events, log: d.Logger, clock: d.Clock, clients: map[string]*client{}, keyed: auth.Keyer(o.Key)}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_oidc_tokens_total",
		Help: "Token requests of the OpenID Connect provider, by grant type and result (issued, or the OAuth error)."},
		[]string{"grant_type", "result"})
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	iu, err := url.Parse(o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc_provider.issuer: %w", err)
	}
	s.issuerPath = strings.TrimPrefix(strings.TrimSuffix(iu.Path, "/"), o.AuthPrefix)
	for _, c := range o.Config.Clients {
		s.clients[c.ClientID] = newClient(c, s.continueURL, o.Config.IDTokenTTL.Std())
	}
	var cryptoKey [32]byte
	copy(cryptoKey[:], auth.DeriveKey(o.Key, "oidc-op-crypto"))
	var locales []language.Tag
	for _, l := range o.Languages {
		if t, err := language.Parse(l); err == nil {
			locales = append(locales, t)
		}
	}
	cfg := &op.Config{
		CryptoKey:             cryptoKey,
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedUILocales:    locales,
		SupportedScopes:       config.OIDCScopes,
		SupportedClaims:       supportedClaims,
		DeviceAuthorization: op.DeviceAuthorizationConfig{
			Lifetime: 10 * time.Minute, PollInterval: 5 * time.Second,
			UserFormURL: s.pages.URL("device", nil), UserCode: op.UserCodeBase20,
		},
		DefaultLogoutRedirectURI: s.pages.URL("sign-in", url.Values{"notice": {"signed_out"}}),
	}
	opts := []op.Option{
		op.WithCustomEndpoints(op.NewEndpoint("authorize"), op.NewEndpoint("token"), op.NewEndpoint("userinfo"),
			op.NewEndpoint("revoke"), op.NewEndpoint("end_session"), op.NewEndpoint("jwks")),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint("introspect")),
		op.WithCustomDeviceAuthorizationEndpoint(op.NewEndpoint("device_authorization")),
		// No ambient credential reaches these endpoints (tokens and client
		// secrets are sent explicitly), so any origin may call them, without
		// cookies.
		op.WithCORSOptions(&corsOptions),
	}
	if iu.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	s.provider, err = op.NewProvider(cfg, storage{s}, op.StaticIssuer(o.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc_provider: %w", err)
	}
	return s, nil
}

// Protocol is the provider's protocol endpoints under the issuer. They
// are mounted before the account core: they take no cookie (but
// end_session, a navigation) and answer in the protocol's own errors, and
// a bearer token on userinfo is the provider's access token, not a
// Gatehouse one.
func (s *Service) Protocol() gateway.Endpoints { return protocol{s} }

type protocol struct{ s *Service }

// Mount adds the protocol endpoints to the auth_prefix group.
func (p protocol) Mount(r fiber.Router) {
	s := p.s
	at := func(path string) string { return s.issuerPath + path }
	r.Get(at(oidc.DiscoveryEndpoint), s.serveDiscovery)
	r.Get(at("/jwks"), s.serveOP)
	r.Get(at("/authorize"), s.serveAuthorize)
	r.Post(at("/authorize"), s.serveAuthorize)
	r.Get(at("/authorize/callback"), s.serveAuthorize)
	r.Post(at("/token"), s.serveToken)
	r.Get(at("/userinfo"), s.serveUserinfo)
	r.Post(at("/userinfo"), s.serveUserinfo)
	r.Post(at("/revoke"), s.serveOP)
	r.Post(at("/introspect"), s.serveIntrospect)
	r.Post(at("/device_authorization"), s.serveOP)
	r.Get(at("/end_session"), s.serveEndSession)
	r.Post(at("/end_session"), s.serveEndSession)
	// CORS preflights, answered by pkg/op's CORS handler.
	for _, path := range []string{"/token", "/userinfo", "/revoke", "/introspect", "/device_authorization", "/jwks", oidc.DiscoveryEndpoint} {
		r.Options(at(path), s.serveOP)
	}
}

// Mount adds the pages of the sign-in loop: continue, consent, device.
func (s *Service) Mount(r fiber.Router) {
	r.Get("/oidc/continue", s.continueFlow)
	r.Get("/consent", s.consentPage)
	r.Post("/consent", s.consentAnswer)
	r.Get("/device", s.devicePage)
	r.Post("/device", s.deviceAnswer)
}

// recorder is the http.ResponseWriter pkg/op writes into.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }
func (w *recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK) // as net/http: the first write fixes the status
	return w.body.Write(b)
}
func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// run serves the request with pkg/op under ctx (the request's deadline
// and trace) and returns what it answered, not yet written. When a store
// failed meanwhile, whatever pkg/op made of it, the error is the answer
// (503 unavailable for an outage).
func (s *Service) run(c *fiber.Ctx, ctx context.Context) (*recorder, error) {
	var req http.Request
	if err := fasthttpadaptor.ConvertRequest(c.Context(), &req, true); err != nil {
		return nil, gateway.BadRequest("cannot read the request")
	}
	r := &req
	r.URL.Path = strings.TrimPrefix(r.URL.Path, s.o.AuthPrefix+s.issuerPath)
	r.URL.RawPath = ""
	r.RequestURI = r.URL.RequestURI()
	if r.Body == nil {
		r.Body = io.NopCloser(bytes.NewReader(nil))
	}
	f := &faults{}
	w := &recorder{header: http.Header{}}
	s.provider.ServeHTTP(w, r.WithContext(context.WithValue(ctx, faultsKey{}, f)))
	if f.err != nil {
		return nil, gateway.Classify(f.err)
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w, nil
}

// write copies a recorded answer to the Fiber response.
func write(c *fiber.Ctx, w *recorder) error {
	h := &c.Response().Header
	for k, vs := range w.header {
		h.Del(k) // fasthttp's Set replaces only the first copy
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	c.Status(w.status)
	return c.Send(w.body.Bytes())
}

// serveOP serves a protocol endpoint. Its answers hold tokens or say
// whether one is live: never cached (RFC 6749 §5.1), but for the keys,
// which relying parties may keep a little while.
func (s *Service) serveOP(c *fiber.Ctx) error {
	w, err := s.run(c, c.UserContext())
	if err != nil {
		return err
	}
	if w.header.Get("Cache-Control") == "" {
		if strings.HasSuffix(c.Path(), "/jwks") {
			w.header.Set("Cache-Control", "public, max-age=30")
		} else {
			w.header.Set("Cache-Control", "no-store")
		}
	}
	return write(c, w)
}

// serveAuthorize runs /authorize and its callback.
func (s *Service) serveAuthorize(c *fiber.Ctx) error {
	w, err := s.run(c, c.UserContext())
	if err != nil {
		return err
	}
	return s.browserAnswer(c, w)
}

// browserAnswer writes an answer a browser navigated to: a 400, an error
// pkg/op cannot send back to the app (an unknown client, a redirect URI not
// registered), is the hosted error page rather than its plain text.
func (s *Service) browserAnswer(c *fiber.Ctx, w *recorder) error {
	if w.status == http.StatusBadRequest {
		return s.errorPage(c, http.StatusBadRequest, "error.oidc.request", describe(w))
	}
	return write(c, w)
}

// describe is what pkg/op said was wrong: its JSON error's description,
// or its plain text.
func describe(w *recorder) string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(w.body.Bytes(), &e) == nil && e.Error != "" {
		return strings.TrimSpace(e.Error + ": " + e.Description)
	}
	return strings.TrimSpace(w.body.String())
}

// serveDiscovery serves pkg/op's metadata, corrected to what the
// provider does: response type code only (pkg/op always lists the implicit
// flow's id_token types and grant, which no client here may use).
func (s *Service) serveDiscovery(c *fiber.Ctx) error {
	w, err := s.run(c, c.UserContext())
	if err != nil {
		return err
	}
	var meta map[string]any
	if w.status != http.StatusOK || json.Unmarshal(w.body.Bytes(), &meta) != nil {
		return write(c, w)
	}
	meta["response_types_supported"] = []string{string(oidc.ResponseTypeCode)}
	if grants, ok := meta["grant_types_supported"].([]any); ok {
		meta["grant_types_supported"] = slices.DeleteFunc(grants, func(g any) bool {
			return g == string(oidc.GrantTypeImplicit) || g == string(oidc.GrantTypeBearer)
		})
	}
	// Clients authenticate with a secret or not at all, never with a
	// signed JWT (private_key_jwt).
	delete(meta, "introspection_endpoint_auth_signing_alg_values_supported")
	delete(meta, "revocation_endpoint_auth_signing_alg_values_supported")
	delete(meta, "token_endpoint_auth_signing_alg_values_supported")
	meta["scopes_supported"] = config.OIDCScopes
	return c.JSON(meta)
}

// serveUserinfo answers a missing or inactive access token with 401 and
// WWW-Authenticate (RFC 6750), where pkg/op answers 403 or plain 401.
func (s *Service) serveUserinfo(c *fiber.Ctx) error {
	w, err := s.run(c, c.UserContext())
	if err != nil {
		return err
	}
	if w.status == http.StatusUnauthorized || w.status == http.StatusForbidden {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
		return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "invalid_token", "error_description": "the access token is missing, expired or revoked"})
	}
	return write(c, w)
}

// serveToken is the token endpoint, counted by grant type and result.
func (s *Service) serveToken(c *fiber.Ctx) error {
	grant := c.FormValue("grant_type")
	if err := s.serveOP(c); err != nil {
		return err
	}
	result := "issued"
	if c.Response().StatusCode() != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(c.Response().Body(), &e)
		result = e.Error
		if !slices.Contains(tokenErrors, result) {
			result = "error"
		}
	}
	// The label is one of the constants: FormValue's string is Fiber's
	// buffer, reused by the next request.
	label := "other"
	if i := slices.Index(grantTypes, grant); i >= 0 {
		label = grantTypes[i]
	}
	s.tokens.WithLabelValues(label, result).Inc()
	return nil
}

// grantTypes and tokenErrors are the label values of the token metric.
var (
	grantTypes = []string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken),
		string(oidc.GrantTypeClientCredentials), string(oidc.GrantTypeDeviceCode)}
	tokenErrors = []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
		"unsupported_grant_type", "invalid_scope", "authorization_pending", "slow_down", "access_denied",
		"expired_token", "server_error"}
)

// serveIntrospect answers a client that did not authenticate with the
// protocol's JSON invalid_client (pkg/op writes plain text).
func (s *Service) serveIntrospect(c *fiber.Ctx) error {
	w, err := s.run(c, c.UserContext())
	if err != nil {
		return err
	}
	if w.status == http.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="introspect"`)
		return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": "invalid_client", "error_description": "the client did not authenticate"})
	}
	return write(c, w)
}

// errorPage is the hosted page for a request that cannot go back to the
// app. detail is pkg/op's description, shown as is (no markup).
func (s *Service) errorPage(c *fiber.Ctx, status int, msg, detail string) error {
	d := &errorPageData{Detail: detail}
	d.Error, d.Path = msg, c.Path()
	return s.pages.RenderOwn(c, status, "oidc-error", d, &d.Data)
}

type errorPageData struct {
	pages.Data
	Detail string
}

// record writes an audit event of the provider's own (no request of the
// user's behind it); a failure is logged.
func (s *Service) record(ctx context.Context, r events.Record) {
	if s.events == nil {
		return
	}
	if err := s.events.Emit(ctx, nil, r); err != nil {
		s.log.Error("event not recorded", "type", r.Type, "error", err)
	}
}

// continueURL is where pkg/op sends a new authorization request: the
// sign-in loop.
func (s *Service) continueURL(id string) string {
	return s.o.PublicURL + s.o.AuthPrefix + "/oidc/continue?id=" + url.QueryEscape(id)
}

// callbackURL is pkg/op's callback for a finished request: it issues the
// code and sends the browser back to the app.
func (s *Service) callbackURL(id string) string {
	return s.o.Issuer + "/authorize/callback?id=" + url.QueryEscape(id)
}

// supportedClaims are the claims the provider issues.
var supportedClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "at_hash", "c_hash", "client_id",
	"email", "email_verified", "name", "preferred_username", "picture", "updated_at",
	claimRole, claimWorkspaceID, claimWorkspaceRole, claimSID,
}

// corsOptions lets any origin call the token, userinfo, revoke,
// introspect, device, jwks and discovery endpoints, without credentials.
var corsOptions = cors.Options{
	AllowedOrigins: []string{"*"},
	AllowedMethods: []string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost},
	AllowedHeaders: []string{"Accept", "Accept-Language", "Authorization", "Content-Type"},
	MaxAge:         600,
}
