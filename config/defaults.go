package config

import (
	"net/url"
	"time"
)

// Default is the configuration of SPEC §2 with nothing set: what every key
// left out of gateway.yaml keeps. Secret is empty and there are no routes,
// so Default alone does not validate. Each call returns a fresh value.
func Default() *Config {
	return &Config{
		Server: Server{
			Listen:          "127.0.0.1:8080",
			PublicURL:       URL{&url.URL{Scheme: "http", Host: "127.0.0.1:8080"}},
			AuthPrefix:      "/auth",
			TrustedProxies:  []CIDR{MustCIDR("127.0.0.0/8"), MustCIDR("::1/128")},
			BodyLimit:       1 << 20,
			ShutdownTimeout: Duration(30 * time.Second),
			RequestTimeout:  DefaultRequestTimeout,
			ReadBufferSize:  64 << 10,
			IdleTimeout:     Duration(75 * time.Second),
			MaxConnsPerIP:   256,
		},
		Database: Database{
			Driver:      DriverSQLite,
			DSN:         NewSecret("file:gatehouse.db"),
			AutoMigrate: true,
		},
		Tracing: Tracing{ServiceName: "gatehouse", SampleRatio: 1, Incoming: IncomingTrustedProxies},
		UI: UI{
			ProductName:     "Gatehouse",
			PrimaryColor:    "#2b5fd9",
			Languages:       []string{"en", "de", "fr", "es"},
			DefaultLanguage: "en",
		},
		Session: Session{
			CookieName:   "gatehouse_session",
			CookieSecure: CookieSecureAuto,
			IdleTimeout:  Duration(24 * time.Hour),
			MaxLifetime:  Duration(720 * time.Hour),
		},
		OIDCProvider: OIDCProvider{
			AccessTokenTTL:  Duration(15 * time.Minute),
			IDTokenTTL:      Duration(15 * time.Minute),
			RefreshTokenTTL: Duration(720 * time.Hour),
		},
		Tokens: Tokens{
			AccessTTL:  Duration(15 * time.Minute),
			RefreshTTL: Duration(720 * time.Hour),
		},
		Mail: Mail{
			Driver: MailLog,
			From:   "Gatehouse <no-reply@localhost>",
			SMTP:   SMTP{Port: 587, TLS: TLSStartTLS},
		},
		Accounts: Accounts{
			FirstUserAdmin:           true,
			RequireEmailVerification: true,
			Roles:                    []string{"user"},
			DefaultRole:              "user",
			Password: Password{
				MinLength: 8,
				MaxLength: 128,
				Argon2:    Argon2{Memory: 64 * 1024, Iterations: 1, Parallelism: 2},
			},
			Lockout: Lockout{
				MaxFailures: 5,
				Window:      Duration(15 * time.Minute),
				Duration:    Duration(15 * time.Minute),
			},
			Codes: Codes{
				TTL:            Duration(10 * time.Minute),
				MaxAttempts:    5,
				ResendCooldown: Duration(60 * time.Second),
			},
		},
		// Provider defaults (password and email_code on) live in each
		// provider's New(): config does not know provider options.
		Providers: Providers{},
		RateLimits: RateLimits{
			Login:      Rate{N: 10, Period: time.Minute},
			Codes:      Rate{N: 5, Period: time.Minute},
			Register:   Rate{N: 10, Period: time.Hour},
			CheckEmail: Rate{N: 30, Period: time.Minute},
		},
		Headers: Headers{
			Prefix:    "X-Auth-",
			Assertion: Assertion{Enabled: true, TTL: Duration(60 * time.Second)},
		},
	}
}

// Route defaults, applied by Load to each route entry that leaves them out.
const (
	// DefaultRoutePath is a route's path when none is given: everything.
	DefaultRoutePath = "/"
	// DefaultRouteAuth is a route's policy when none is given.
	DefaultRouteAuth = AuthRequired
	// DefaultRouteTimeout is a route's upstream timeout when none is given.
	DefaultRouteTimeout = Duration(30 * time.Second)
	// DefaultRequestTimeout is server.request_timeout's default: the
	// deadline of a request's context (store, database and mail calls)
	// outside proxied routes: Gatehouse's own endpoints, forward-auth,
	// unmatched requests. A proxied request's context has its route's
	// timeout.
	DefaultRequestTimeout = Duration(30 * time.Second)
)
