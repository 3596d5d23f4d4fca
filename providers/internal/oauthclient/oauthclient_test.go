package oauthclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"gatehouse/config"
	"gatehouse/gateway"
)

func TestGetJSON(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"auth":   r.Header.Get("Authorization"),
			"accept": r.Header.Get("Accept"),
			"extra":  r.Header.Get("X-Extra"),
		})
	})
	mux.HandleFunc("/forbidden", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "{}", http.StatusForbidden)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat(" ", MaxBody+1)))
	})
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("{"))
	})
	s := httptest.NewServer(mux)
	defer s.Close()
	ctx := context.Background()

	var got map[string]string
	if err := GetJSON(ctx, s.Client(), s.URL+"/ok", "tok", nil, &got); err != nil {
		t.Fatal(err)
	}
	if got["auth"] != "Bearer tok" || got["accept"] != "application/json" || got["extra"] != "" {
		t.Errorf("headers without extras = %v", got)
	}
	h := http.Header{"Accept": {"application/vnd.example+json"}, "x-extra": {"1"}}
	if err := GetJSON(ctx, s.Client(), s.URL+"/ok", "tok", h, &got); err != nil {
		t.Fatal(err)
	}
	if got["accept"] != "application/vnd.example+json" || got["extra"] != "1" {
		t.Errorf("headers with extras = %v", got)
	}

	err := GetJSON(ctx, s.Client(), s.URL+"/forbidden", "tok", nil, &got)
	var st *StatusError
	if !errors.As(err, &st) || st.Code != http.StatusForbidden || err.Error() != "status 403" {
		t.Errorf("403: err = %v, want a *StatusError saying status 403", err)
	}
	if err := GetJSON(ctx, s.Client(), s.URL+"/huge", "tok", nil, &got); err == nil || err.Error() != "answer too large" {
		t.Errorf("huge: err = %v, want answer too large", err)
	}
	if err := GetJSON(ctx, s.Client(), s.URL+"/garbage", "tok", nil, &got); err == nil || !strings.HasPrefix(err.Error(), "bad JSON: ") {
		t.Errorf("garbage: err = %v, want bad JSON", err)
	}
}

func TestBoolish(t *testing.T) {
	for in, want := range map[string]bool{`true`: true, `"TRUE"`: true, `false`: false, `"false"`: false, `null`: false, `""`: false} {
		var b Boolish
		if err := json.Unmarshal([]byte(in), &b); err != nil || bool(b) != want {
			t.Errorf("%s: %v, %v; want %v", in, b, err, want)
		}
	}
	var b Boolish
	if err := json.Unmarshal([]byte(`"yes"`), &b); err == nil {
		t.Error(`"yes": no error`)
	}
}

func TestNewApp(t *testing.T) {
	def := oauth2.Endpoint{AuthURL: "https://idp.example/auth", TokenURL: "https://idp.example/token", AuthStyle: oauth2.AuthStyleInParams}
	pub, _ := url.Parse("https://gate.example/")
	h := &gateway.Host{PublicURL: pub, AuthPrefix: "/auth"}
	a := NewApp("acme", Client{ClientID: "c"}, def, []string{"openid"}, h)
	if a.Name != "acme" || a.Config.Endpoint != def || a.Callback != "https://gate.example/auth/oauth/acme/callback" || a.Client == nil || a.Client.Timeout != DefaultTimeout {
		t.Errorf("app = %+v", a)
	}
	b := NewApp("acme", Client{ClientID: "c", AuthURL: "http://127.0.0.1:9/a"}, def, nil, &gateway.Host{})
	if b.Config.Endpoint.AuthURL != "http://127.0.0.1:9/a" || b.Config.Endpoint.TokenURL != def.TokenURL || b.Callback != "" {
		t.Errorf("override: %+v", b)
	}
}

func TestValidateClient(t *testing.T) {
	tests := []struct {
		name     string
		clientID string
		secret   string
		urls     []URLOption
		want     string // "" = valid
	}{
		{name: "off"},
		{name: "on", clientID: "c", secret: "s", urls: []URLOption{{"auth_url", "https://idp.example/a"}, {"token_url", ""}}},
		{name: "id without secret", clientID: "c", want: "client_secret: required when client_id is set"},
		{name: "secret without id", secret: "s", want: "client_id: required when client_secret is set"},
		{name: "relative", clientID: "c", secret: "s", urls: []URLOption{{"auth_url", "/relative"}}, want: `auth_url: not an absolute http(s) URL: "/relative"`},
		{name: "fragment", clientID: "c", secret: "s", urls: []URLOption{{"api_url", "https://x.example/#f"}}, want: "api_url: must not have a fragment"},
		{name: "all at once", secret: "s", urls: []URLOption{{"auth_url", "ftp://x"}, {"token_url", "x"}}, want: "client_id: required when client_secret is set\nauth_url: not an absolute http(s) URL: \"ftp://x\"\ntoken_url: not an absolute http(s) URL: \"x\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateClient(tc.clientID, config.NewSecret(tc.secret), tc.urls...)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("ValidateClient = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAppFlow(t *testing.T) {
	a := &App{Name: "acme", Config: oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{AuthURL: "https://idp.example/auth"}}, RequireNonce: true}
	good := gateway.Flow{State: "st", Verifier: strings.Repeat("v", 43), Nonce: "n", RedirectURL: "https://gate.example/cb"}
	tests := []struct {
		name    string
		edit    func(f *gateway.Flow)
		wantErr string
	}{
		{name: "ok", edit: func(*gateway.Flow) {}},
		{name: "short verifier", edit: func(f *gateway.Flow) { f.Verifier = "short" }, wantErr: "acme: PKCE verifier must be 43 to 128 characters"},
		{name: "no nonce", edit: func(f *gateway.Flow) { f.Nonce = "" }, wantErr: "acme: empty nonce"},
		{name: "no redirect", edit: func(f *gateway.Flow) { f.RedirectURL = "" }, wantErr: "acme: no redirect URL"},
		{name: "no state", edit: func(f *gateway.Flow) { f.State = "" }, wantErr: "acme: empty state"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := good
			tc.edit(&f)
			u, err := a.AuthCodeURL(f, oauth2.SetAuthURLParam("nonce", f.Nonce))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pu, _ := url.Parse(u)
			q := pu.Query()
			if q.Get("state") != "st" || q.Get("code_challenge_method") != "S256" || q.Get("nonce") != "n" || q.Get("redirect_uri") != good.RedirectURL {
				t.Errorf("AuthCodeURL = %s", u)
			}
		})
	}

	for q, want := range map[string]string{"error=access_denied": "acme: sign-in refused: access_denied", "": "acme: callback without a code"} {
		v, _ := url.ParseQuery(q)
		if _, err := a.Exchange(context.Background(), v, good); err == nil || err.Error() != want {
			t.Errorf("Exchange(%q): err = %v, want %q", q, err, want)
		}
	}
}
