// Command upstream-go is an app behind Gatehouse that trusts no header
// until it has verified X-Auth-Assertion: the signature against
// Gatehouse's JWKS (cached, refreshed when a new key appears), iss, aud
// and exp. It is the Go example of docs/upstream.md.
//
//	GATEHOUSE_ISSUER=https://auth.example.com ROUTE=app go run ./examples/upstream-go
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

func main() {
	issuer := getenv("GATEHOUSE_ISSUER", "https://auth.example.com") // server.public_url
	route := getenv("ROUTE", "app")                                  // the route's name
	// Where the keys are fetched from: the issuer's JWKS, unless the app
	// reaches Gatehouse by another address (in a container network).
	jwksURL := getenv("JWKS_URL", issuer+"/auth/.well-known/jwks.json")
	h, err := newHandler(context.Background(), issuer, jwksURL, route)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(getenv("LISTEN", "127.0.0.1:3000"), h))
}

// newHandler verifies each request's assertion with the keys at jwksURL.
func newHandler(ctx context.Context, issuer, jwksURL, route string) (http.Handler, error) {
	keys, err := jwk.NewCache(ctx, httprc.NewClient())
	if err != nil {
		return nil, err
	}
	// The first fetch is waited for 5s at most: an app that starts before
	// Gatehouse answers exits, for its supervisor to start it again.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := keys.Register(rctx, jwksURL, jwk.WithMinInterval(time.Minute)); err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, err := keys.Lookup(r.Context(), jwksURL)
		if err != nil {
			http.Error(w, "keys unavailable", http.StatusServiceUnavailable)
			return
		}
		// The JWKS names each key's alg (ES256): a token signed with
		// another algorithm (none, HS256) does not verify.
		tok, err := jwt.Parse([]byte(r.Header.Get("X-Auth-Assertion")), jwt.WithKeySet(set), jwt.WithValidate(true),
			jwt.WithIssuer(issuer), jwt.WithAudience(route), jwt.WithAcceptableSkew(5*time.Second))
		if err != nil {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		user, _ := tok.Subject()
		var role string
		_ = tok.Get("role", &role)
		_, _ = w.Write([]byte("hello " + user + " (" + role + ")\n"))
	}), nil
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
