package webhooks

import (
	"strings"
	"testing"

	"gatehouse/gateway/gatewaytest"
)

const sampleSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		options string
		wantErr string // substring; "" = valid
	}{
		{name: "no options", wantErr: "plugins[0] (webhooks).options: url: required\nevents: want at least one event\nsecret: required"},
		{name: "valid", options: `{url: "https://hooks.example.com/gh", events: [user.created, user.deleted], secret: ` + sampleSecret + `}`},
		{name: "every event", options: `{url: "https://h.example.com", events: [user.created, user.verified, user.login, user.updated, user.deleted, workspace.member_added, workspace.member_removed], secret: ` + sampleSecret + `}`},
		{name: "private address", options: `{url: "http://192.168.0.10/h", events: [user.login], secret: ` + sampleSecret + `}`, wantErr: "url: 192.168.0.10 is a private address"},
		{name: "private address allowed", options: `{url: "http://192.168.0.10/h", events: [user.login], secret: ` + sampleSecret + `, allow_private: true}`},
		{name: "bad url", options: `{url: "hooks.example.com", events: [user.login], secret: ` + sampleSecret + `}`, wantErr: "url: not an absolute http(s) URL"},
		{name: "unknown event", options: `{url: "https://h.example.com", events: [user.login, user.logout], secret: ` + sampleSecret + `}`, wantErr: `events[1]: unknown event "user.logout"`},
		{name: "no events", options: `{url: "https://h.example.com", events: [], secret: ` + sampleSecret + `}`, wantErr: "events: want at least one event"},
		{name: "secret without prefix", options: `{url: "https://h.example.com", events: [user.login], secret: MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}`, wantErr: `secret: must start with "whsec_"`},
		{name: "short secret", options: `{url: "https://h.example.com", events: [user.login], secret: whsec_c2hvcnQ=}`, wantErr: "secret: must hold at least 24 bytes"},
		{name: "events not a list", options: `{url: "https://h.example.com", events: user.login, secret: ` + sampleSecret + `}`, wantErr: "cannot unmarshal"},
		{name: "unknown key", options: `{url: "https://h.example.com", events: [user.login], secret: ` + sampleSecret + `, endpoints: []}`, wantErr: "field endpoints not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gatewaytest.NewPlugin(Info(), tc.options)
			checkErr(t, err, tc.wantErr)
			if err != nil && strings.Contains(err.Error(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
				t.Fatalf("the error quotes the secret: %v", err)
			}
		})
	}
}

func TestContract(t *testing.T) {
	gatewaytest.RunPluginContract(t, Info(),
		`{url: "https://hooks.example.com/gh", events: [user.created], secret: `+sampleSecret+`}`,
		`{url: "http://127.0.0.1/h", events: [user.created], secret: `+sampleSecret+`}`,
		`{url: "x", events: [nope]}`,
	)
}

func TestPluginDelivers(t *testing.T) {
	r := newReceiver(t)
	p := gatewaytest.ProvisionPlugin(t, Info(),
		`{url: "`+r.URL+`/h", events: [user.created], secret: `+sampleSecret+`, allow_private: true}`, nil).(*Plugin)
	defer p.Close()
	if err := p.OnEvent(t.Context(), testEvent); err != nil {
		t.Fatal(err)
	}
	if n := len(r.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	if err := new(Plugin).OnEvent(t.Context(), testEvent); err == nil {
		t.Fatal("an unprovisioned plugin delivered")
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q, want one containing %q", err, want)
	}
}

func TestContractAllowPrivate(t *testing.T) {
	gatewaytest.RunPluginContract(t, InfoAllowPrivate(),
		`{url: "http://127.0.0.1/h", events: [user.created], secret: `+sampleSecret+`}`,
		`{url: "http://127.0.0.1/h", events: [user.created], secret: `+sampleSecret+`, allow_private: false}`,
	)
}
