package gatewaytest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gatehouse/config"
	"gatehouse/gateway"
)

// contractProvider is a well-behaved provider; the fakes below each break
// one rule.
type contractProvider struct {
	// Enabled is an option, on by default.
	Enabled bool `yaml:"enabled"`
	// Name is an option.
	Name string `yaml:"name"`
}

func (p *contractProvider) Method() string                                 { return "contract:" + p.Name }
func (p *contractProvider) Provision(context.Context, *gateway.Host) error { return nil }
func (p *contractProvider) Validate() error {
	if p.Name == "" {
		return errors.New("name: required")
	}
	return nil
}

type contractNoMethod struct {
	contractProvider `yaml:",inline"`
}

func (p *contractNoMethod) Method() string { return "" }

type contractProviderMutating struct {
	contractProvider `yaml:",inline"`
}

func (p *contractProviderMutating) Validate() error {
	p.Name = strings.ToLower(p.Name) // normalising belongs in Provision
	return nil
}

type contractProviderInline struct {
	contractProvider `yaml:",inline"`
	Rest             map[string]any `yaml:",inline"`
}

func providerInfo(newFn func() gateway.Provider) gateway.ProviderInfo {
	return gateway.ProviderInfo{Name: "contract_test", New: newFn}
}

func TestProviderContractChecks(t *testing.T) {
	shared := &contractProvider{}
	counter := 0
	good := providerInfo(func() gateway.Provider { return &contractProvider{Enabled: true} })
	tests := []struct {
		name    string
		info    gateway.ProviderInfo
		check   func(gateway.ProviderInfo, []string) error
		samples []string
		wantErr string // substring; "" = passes
	}{
		{name: "good info", info: good, check: wrapProviderInfo},
		{name: "name not snake_case", info: gateway.ProviderInfo{Name: "emailCode", New: good.New}, check: wrapProviderInfo, wantErr: `Info().Name "emailCode"`},
		{name: "no constructor", info: gateway.ProviderInfo{Name: "x"}, check: wrapProviderInfo, wantErr: "Info().New is nil"},

		{name: "good new: defaults are fine", info: good, check: checkProviderNew},
		{name: "shared instance", info: providerInfo(func() gateway.Provider { return shared }), check: checkProviderNew, wantErr: "returned the same *gatewaytest.contractProvider twice"},
		{name: "state in New", info: providerInfo(func() gateway.Provider { counter++; return &contractProvider{Name: strings.Repeat("x", counter)} }), check: checkProviderNew, wantErr: "two New() values differ"},

		{name: "unknown key rejected with its path", info: good, check: checkProviderUnknownOption},
		{name: "an inline map swallows nothing", info: providerInfo(func() gateway.Provider { return new(contractProviderInline) }), check: checkProviderUnknownOption},

		{name: "pure validate", info: good, check: checkProviderValidatePure, samples: []string{"name: a", "enabled: false"}},
		{name: "validate normalises", info: providerInfo(func() gateway.Provider { return new(contractProviderMutating) }), check: checkProviderValidatePure, samples: []string{"name: A"}, wantErr: `options "name: A": Validate changed the provider`},
		{name: "valid without a method", info: providerInfo(func() gateway.Provider { return new(contractNoMethod) }), check: checkProviderValidatePure, samples: []string{"name: a"}, wantErr: "the instance validates but Method() is empty"},
		{name: "sample that does not decode", info: good, check: checkProviderValidatePure, samples: []string{"nmae: a"}, wantErr: "providers.contract_test.nmae: unknown key"},
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

func wrapProviderInfo(info gateway.ProviderInfo, _ []string) error { return checkProviderInfo(info) }

func TestProviderContractGood(t *testing.T) {
	RunProviderContract(t, providerInfo(func() gateway.Provider { return &contractProvider{Enabled: true} }), "name: a")
}

func TestNewProviders(t *testing.T) {
	info := providerInfo(func() gateway.Provider { return &contractProvider{Enabled: true} })
	if _, err := NewProviders(info, "{enabled: true}"); err == nil || err.Error() != "providers.contract_test: name: required" {
		t.Errorf("NewProviders: %v", err)
	}
	list, err := NewProviders(info, "{name: a}")
	if err != nil || len(list) != 1 || list[0].Method != "contract:a" || list[0].Path != "providers.contract_test" {
		t.Fatalf("NewProviders = %+v, %v", list, err)
	}
	set := ProvisionProviders(t, info, "{name: a}", nil)
	if !set.Has("contract:a") {
		t.Errorf("ProvisionProviders: %v", set.Methods())
	}
	var _ config.Providers // the section type NewProviders builds
}
