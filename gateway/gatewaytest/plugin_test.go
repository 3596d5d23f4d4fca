package gatewaytest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"gatehouse/gateway"
)

// contractPlugin is a well-behaved plugin; the fakes below each break one rule.
type contractPlugin struct {
	// Level is an option.
	Level string `yaml:"level"`

	level string
}

func (p *contractPlugin) Provision(context.Context, *gateway.Host) error {
	p.level = p.Level
	return nil
}
func (p *contractPlugin) Handle(c *fiber.Ctx) error { return c.Next() }
func (p *contractPlugin) Validate() error {
	if p.Level != "" && p.Level != "info" {
		return errors.New("level: want info")
	}
	return nil
}

func contractInfo(newFn func() gateway.Plugin) gateway.PluginInfo {
	return gateway.PluginInfo{Name: "contract_test", Phase: gateway.PhaseEdge, New: newFn}
}

type contractUntagged struct {
	contractPlugin
	Timeout int
}

type contractCamel struct {
	contractPlugin
	MaxAge int `yaml:"maxAge"`
}

type contractInline struct {
	contractPlugin `yaml:",inline"`
	Rest           map[string]any `yaml:",inline"`
}

type contractMutating struct{ contractPlugin }

func (p *contractMutating) Validate() error {
	if p.Level == "" {
		p.Level = "info" // defaults belong in Provision
	}
	return nil
}

type contractFlaky struct {
	contractPlugin
	calls *int
}

func (p *contractFlaky) Validate() error {
	*p.calls++
	if *p.calls%2 == 0 {
		return errors.New("second time unlucky")
	}
	return nil
}

type contractNoop struct{}

func (contractNoop) Provision(context.Context, *gateway.Host) error { return nil }

func TestPluginContractChecks(t *testing.T) {
	shared := &contractPlugin{}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	counter := 0

	tests := []struct {
		name    string
		info    gateway.PluginInfo
		check   func(gateway.PluginInfo, []string) error
		samples []string
		wantErr string // substring; "" = passes
	}{
		{name: "good info", info: contractInfo(func() gateway.Plugin { return new(contractPlugin) }), check: wrapInfo},
		{name: "name not snake_case", info: gateway.PluginInfo{Name: "ipFilter", Phase: gateway.PhaseEdge, New: func() gateway.Plugin { return new(contractPlugin) }}, check: wrapInfo, wantErr: `Info().Name "ipFilter": want a non-empty snake_case name`},
		{name: "empty name", info: gateway.PluginInfo{Phase: gateway.PhaseEdge, New: func() gateway.Plugin { return new(contractPlugin) }}, check: wrapInfo, wantErr: "snake_case"},
		{name: "no phase", info: gateway.PluginInfo{Name: "x", New: func() gateway.Plugin { return new(contractPlugin) }}, check: wrapInfo, wantErr: "Info().Phase phase(0)"},
		{name: "no constructor", info: gateway.PluginInfo{Name: "x", Phase: gateway.PhaseUpstream}, check: wrapInfo, wantErr: "Info().New is nil"},

		{name: "good new", info: contractInfo(func() gateway.Plugin { return new(contractPlugin) }), check: checkNew},
		{name: "shared instance", info: contractInfo(func() gateway.Plugin { return shared }), check: checkNew, wantErr: "returned the same *gatewaytest.contractPlugin twice"},
		{name: "state in New", info: contractInfo(func() gateway.Plugin { counter++; return &contractPlugin{level: strings.Repeat("x", counter)} }), check: checkNew, wantErr: "two New() values differ"},
		{name: "goroutine in New", info: contractInfo(func() gateway.Plugin {
			go func() { <-stop }()
			return new(contractPlugin)
		}), check: checkNew, wantErr: "goroutine(s); it must have no side effects"},
		{name: "neither middleware nor sink", info: contractInfo(func() gateway.Plugin { return contractNoop{} }), check: checkNew, wantErr: "none of gateway.Middleware, gateway.EventSink, gateway.Authenticator"},

		{name: "good fields", info: contractInfo(func() gateway.Plugin { return new(contractPlugin) }), check: checkFields},
		{name: "untagged field", info: contractInfo(func() gateway.Plugin { return new(contractUntagged) }), check: checkFields, wantErr: "exported field contractUntagged.Timeout has no yaml tag"},
		{name: "camelCase key", info: contractInfo(func() gateway.Plugin { return new(contractCamel) }), check: checkFields, wantErr: `yaml key "maxAge" is not snake_case`},

		{name: "unknown key rejected", info: contractInfo(func() gateway.Plugin { return new(contractPlugin) }), check: checkUnknownOption},
		{name: "unknown key swallowed", info: contractInfo(func() gateway.Plugin { return new(contractInline) }), check: checkUnknownOption, wantErr: "DecodeOptions accepted the unknown option"},

		{name: "pure validate", info: contractInfo(func() gateway.Plugin { return new(contractPlugin) }), check: checkValidatePure, samples: []string{"level: info", "level: loud"}},
		{name: "validate sets defaults", info: contractInfo(func() gateway.Plugin { return new(contractMutating) }), check: checkValidatePure, wantErr: "zero value: Validate changed the plugin"},
		{name: "validate not repeatable", info: contractInfo(func() gateway.Plugin { return &contractFlaky{calls: new(int)} }), check: checkValidatePure, wantErr: `Validate is not repeatable: first "<nil>", then "second time unlucky"`},
		{name: "sample that does not decode", info: contractInfo(func() gateway.Plugin { return new(contractPlugin) }), check: checkValidatePure, samples: []string{"levle: info"}, wantErr: `options "levle: info": sample does not decode`},
		{name: "no validator", info: contractInfo(func() gateway.Plugin { return contractNoop{} }), check: checkValidatePure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.info, tc.samples)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func wrapInfo(info gateway.PluginInfo, _ []string) error { return checkInfo(info) }

func TestPluginContractGood(t *testing.T) {
	RunPluginContract(t, contractInfo(func() gateway.Plugin { return new(contractPlugin) }), "level: info", "level: loud")
}
