package gatewaytest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gatehouse/config"
	"gatehouse/gateway"
)

// RunProviderContract checks what every provider module promises
// (docs/providers.md), as RunPluginContract does for plugins:
//
//   - Info has a snake_case name and a constructor;
//   - New returns a fresh value each time, all equal (the options'
//     defaults and nothing else), and starts no goroutines;
//   - every exported field is an option with a snake_case yaml tag;
//   - an unknown option key is rejected by config.DecodeOptions with its
//     key path (providers.NAME.KEY);
//   - Validate, when implemented, is pure: called twice it gives the same
//     answer, it changes nothing and starts no goroutines;
//   - an instance that validates has a method name.
//
// samples are YAML snippets of one instance's options (one entry, for a
// List provider) that must decode; Validate's purity is checked on each of
// them (valid or not) as well as on New's value. Call it from a test that
// does not run in parallel: it counts goroutines.
func RunProviderContract(t *testing.T, info gateway.ProviderInfo, samples ...string) {
	t.Helper()
	if !t.Run("info", func(t *testing.T) { report(t, checkProviderInfo(info)) }) {
		return
	}
	for _, c := range []struct {
		name  string
		check func(gateway.ProviderInfo, []string) error
	}{
		{name: "new", check: checkProviderNew},
		{name: "option_fields", check: func(info gateway.ProviderInfo, _ []string) error { return checkOptionFields(info.New()) }},
		{name: "unknown_option", check: checkProviderUnknownOption},
		{name: "validate_pure", check: checkProviderValidatePure},
	} {
		t.Run(c.name, func(t *testing.T) { report(t, c.check(info, samples)) })
	}
}

func checkProviderInfo(info gateway.ProviderInfo) error {
	var errs []error
	if !snakeCase.MatchString(info.Name) {
		errs = append(errs, fmt.Errorf("Info().Name %q: want a non-empty snake_case name", info.Name))
	}
	if info.New == nil {
		errs = append(errs, errors.New("Info().New is nil"))
	}
	return errors.Join(errs...)
}

func checkProviderNew(info gateway.ProviderInfo, _ []string) error {
	var a, b gateway.Provider
	if err := noNewGoroutines("New", func() {
		a, b = info.New(), info.New()
		for range 8 {
			_ = info.New()
		}
	}); err != nil {
		return err
	}
	if a == nil || b == nil {
		return errors.New("New returned nil")
	}
	if sameInstance(a, b) {
		return fmt.Errorf("New returned the same %T twice; want a fresh value each call", a)
	}
	if d := cmp.Diff(a, b, allFields); d != "" {
		return fmt.Errorf("two New() values differ; New must hold the defaults only (-first +second):\n%s", d)
	}
	return nil
}

func checkProviderUnknownOption(info gateway.ProviderInfo, _ []string) error {
	n, err := OptionsNode(unknownKey + ": 1")
	if err != nil {
		return err
	}
	at := "providers." + info.Name
	err = config.DecodeOptions(&n, info.New(), at)
	if err == nil {
		return fmt.Errorf("DecodeOptions accepted the unknown option %q", unknownKey)
	}
	if want := at + "." + unknownKey + ": unknown key"; !strings.Contains(err.Error(), want) {
		return fmt.Errorf("DecodeOptions rejected the unknown option with %q, want %q", err, want)
	}
	return nil
}

func checkProviderValidatePure(info gateway.ProviderInfo, samples []string) error {
	var errs []error
	for _, s := range append([]string{""}, samples...) {
		if err := providerValidatePure(info, s); err != nil {
			label := "New() value"
			if s != "" {
				label = fmt.Sprintf("options %q", s)
			}
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
	}
	return errors.Join(errs...)
}

func providerValidatePure(info gateway.ProviderInfo, snippet string) error {
	n, err := OptionsNode(snippet)
	if err != nil {
		return err
	}
	p, ref := info.New(), info.New()
	for _, x := range []gateway.Provider{p, ref} {
		if err := config.DecodeOptions(&n, x, "providers."+info.Name); err != nil {
			return fmt.Errorf("sample does not decode: %w", err)
		}
	}
	v, ok := p.(gateway.Validator)
	if !ok {
		return checkMethod(p, nil)
	}
	var first, second error
	if err := noNewGoroutines("Validate", func() { first, second = v.Validate(), v.Validate() }); err != nil {
		return err
	}
	if errText(first) != errText(second) {
		return fmt.Errorf("Validate is not repeatable: first %q, then %q", errText(first), errText(second))
	}
	if d := cmp.Diff(ref, p, allFields); d != "" {
		return fmt.Errorf("Validate changed the provider; derive at Provision instead (-before +after):\n%s", d)
	}
	return checkMethod(p, first)
}

// checkMethod: an instance that validates names its method.
func checkMethod(p gateway.Provider, validateErr error) error {
	if validateErr == nil && p.Method() == "" {
		return errors.New("the instance validates but Method() is empty")
	}
	return nil
}

// NewProviders builds the instances of one provider section, given as
// YAML (a mapping, or a list for a List provider; "" = left out), exactly
// as the gateway does at start: through a Registry holding only info, with
// Registry.BuildProviders (New → strict decode → Validate; inactive
// instances left out). The error is the registry's *config.Errors, e.g.
// `providers.google.client_id: required when client_secret is set`.
func NewProviders(info gateway.ProviderInfo, section string) ([]*gateway.ProviderInstance, error) {
	pc := config.Providers{}
	if section != "" {
		n, err := OptionsNode(section)
		if err != nil {
			return nil, err
		}
		pc[info.Name] = n
	}
	r, err := gateway.NewRegistry(nil, []gateway.ProviderInfo{info})
	if err != nil {
		return nil, err
	}
	return r.BuildProviders(pc)
}

// ProvisionProviders builds a provider section with NewProviders and
// provisions it like the gateway (h nil: a Host that discards logs),
// failing the test on any error.
func ProvisionProviders(t testing.TB, info gateway.ProviderInfo, section string, h *gateway.Host) *gateway.ProviderSet {
	t.Helper()
	pc := config.Providers{}
	if section != "" {
		n, err := OptionsNode(section)
		if err != nil {
			t.Fatal(err)
		}
		pc[info.Name] = n
	}
	r, err := gateway.NewRegistry(nil, []gateway.ProviderInfo{info})
	if err != nil {
		t.Fatal(err)
	}
	set, err := r.ProvisionProviders(t.Context(), pc, h)
	if err != nil {
		t.Fatalf("providers.%s %q: %v", info.Name, section, err)
	}
	t.Cleanup(func() { _ = set.Close() })
	return set
}
