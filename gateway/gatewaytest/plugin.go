package gatewaytest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"gatehouse/config"
	"gatehouse/gateway"
	"gatehouse/gateway/engine"
)

// RunPluginContract checks what every plugin module promises (docs/plugins.md):
//
//   - Info has a snake_case name, a valid phase and a constructor;
//   - New returns a fresh, zero-state value each time, starts no goroutines,
//     and the value is a Middleware, an EventSink or an Authenticator;
//   - every exported field is an option with a snake_case yaml tag;
//   - an unknown option key is rejected by gateway.DecodeOptions;
//   - Validate, when implemented, is pure: called twice it gives the same
//     answer, it changes nothing in the plugin and starts no goroutines.
//
// samples are YAML option snippets that must decode; Validate's purity is
// checked on each of them (valid or not) as well as on the zero value.
// Call it from a test that does not run in parallel: it counts goroutines.
func RunPluginContract(t *testing.T, info gateway.PluginInfo, samples ...string) {
	t.Helper()
	if !t.Run("info", func(t *testing.T) { report(t, checkInfo(info)) }) {
		return // the other checks need a usable Info
	}
	for _, c := range []struct {
		name  string
		check func(gateway.PluginInfo, []string) error
	}{
		{name: "new", check: checkNew},
		{name: "option_fields", check: checkFields},
		{name: "unknown_option", check: checkUnknownOption},
		{name: "validate_pure", check: checkValidatePure},
	} {
		t.Run(c.name, func(t *testing.T) { report(t, c.check(info, samples)) })
	}
}

func report(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Error(err)
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

func checkInfo(info gateway.PluginInfo) error {
	var errs []error
	if !snakeCase.MatchString(info.Name) {
		errs = append(errs, fmt.Errorf("Info().Name %q: want a non-empty snake_case name", info.Name))
	}
	if info.Phase < gateway.PhaseEdge || info.Phase > gateway.PhaseUpstream {
		errs = append(errs, fmt.Errorf("Info().Phase %v: want edge, authenticated or upstream", info.Phase))
	}
	if info.New == nil {
		errs = append(errs, errors.New("Info().New is nil"))
	}
	return errors.Join(errs...)
}

// allFields lets cmp look at unexported runtime state too.
var allFields = cmp.Exporter(func(reflect.Type) bool { return true })

func checkNew(info gateway.PluginInfo, _ []string) error {
	var a, b gateway.Plugin
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
	_, mw := a.(gateway.Middleware)
	_, sink := a.(gateway.EventSink)
	_, auth := a.(gateway.Authenticator)
	if !mw && !sink && !auth {
		return fmt.Errorf("New returned %T, which is none of gateway.Middleware, gateway.EventSink, gateway.Authenticator", a)
	}
	if sameInstance(a, b) {
		return fmt.Errorf("New returned the same %T twice; want a fresh value each call", a)
	}
	if d := cmp.Diff(a, b, allFields); d != "" {
		return fmt.Errorf("two New() values differ; New must return the zero state (-first +second):\n%s", d)
	}
	return nil
}

// sameInstance reports whether a and b share their storage (a pointer to
// a zero-size type may legitimately be shared, so it is not counted).
func sameInstance(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	switch va.Kind() {
	case reflect.Pointer:
		return va.Type().Elem().Size() > 0 && va.Pointer() == vb.Pointer()
	case reflect.Map, reflect.Slice, reflect.Chan:
		return !va.IsNil() && va.Pointer() == vb.Pointer()
	}
	return false
}

func checkFields(info gateway.PluginInfo, _ []string) error {
	return checkOptionFields(info.New())
}

// checkOptionFields checks that every exported field of the module v is
// an option with a snake_case yaml tag.
func checkOptionFields(v any) error {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var errs []error
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-" || strings.Contains(","+opts+",", ",inline,"):
		case name == "":
			errs = append(errs, fmt.Errorf("exported field %s.%s has no yaml tag; exported fields are options", t.Name(), f.Name))
		case !snakeCase.MatchString(name):
			errs = append(errs, fmt.Errorf("option %s.%s: yaml key %q is not snake_case", t.Name(), f.Name, name))
		}
	}
	return errors.Join(errs...)
}

const unknownKey = "gatehouse_contract_unknown_option"

func checkUnknownOption(info gateway.PluginInfo, _ []string) error {
	n, err := OptionsNode(unknownKey + ": 1")
	if err != nil {
		return err
	}
	err = gateway.DecodeOptions(&n, info.New())
	if err == nil {
		return fmt.Errorf("DecodeOptions accepted the unknown option %q", unknownKey)
	}
	if !strings.Contains(err.Error(), unknownKey) {
		return fmt.Errorf("DecodeOptions rejected the unknown option %q with %q, which does not name it", unknownKey, err)
	}
	return nil
}

func checkValidatePure(info gateway.PluginInfo, samples []string) error {
	if _, ok := info.New().(gateway.Validator); !ok {
		return nil
	}
	var errs []error
	for _, s := range append([]string{""}, samples...) {
		if err := validatePure(info, s); err != nil {
			label := "zero value"
			if s != "" {
				label = fmt.Sprintf("options %q", s)
			}
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
	}
	return errors.Join(errs...)
}

func validatePure(info gateway.PluginInfo, snippet string) error {
	n, err := OptionsNode(snippet)
	if err != nil {
		return err
	}
	p, ref := info.New(), info.New()
	for _, x := range []gateway.Plugin{p, ref} {
		if err := gateway.DecodeOptions(&n, x); err != nil {
			return fmt.Errorf("sample does not decode: %w", err)
		}
	}
	v := p.(gateway.Validator)
	var first, second error
	if err := noNewGoroutines("Validate", func() { first, second = v.Validate(), v.Validate() }); err != nil {
		return err
	}
	if errText(first) != errText(second) {
		return fmt.Errorf("Validate is not repeatable: first %q, then %q", errText(first), errText(second))
	}
	if d := cmp.Diff(ref, p, allFields); d != "" {
		return fmt.Errorf("Validate changed the plugin; compile at Provision instead (-before +after):\n%s", d)
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// noNewGoroutines runs fn and reports an error when the goroutine count
// stays above what it was before. Goroutines of earlier tests that are
// still winding down only lower the count, so it waits a little for them.
func noNewGoroutines(what string, fn func()) error {
	before := runtime.NumGoroutine()
	fn()
	deadline := time.Now().Add(time.Second)
	for {
		after := runtime.NumGoroutine()
		if after <= before {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s started %d goroutine(s); it must have no side effects", what, after-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// OptionsNode parses a YAML snippet into the options node of a
// config.PluginSpec, as the config loader would hand it to the registry.
// An empty snippet is an empty node (no options).
func OptionsNode(snippet string) (yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(snippet), &doc); err != nil {
		return yaml.Node{}, fmt.Errorf("test options %q: %w", snippet, err)
	}
	if len(doc.Content) == 0 {
		return yaml.Node{}, nil
	}
	return *doc.Content[0], nil
}

// NewPlugin builds a plugin from a YAML options snippet exactly as the
// gateway does at start: through a Registry holding only info, with
// Registry.NewInstance (New → strict decode → Validate). The error is the
// registry's, e.g. `plugins[0] (ip_filter).options: allow[1]: ...`.
func NewPlugin(info gateway.PluginInfo, snippet string) (gateway.Plugin, error) {
	n, err := OptionsNode(snippet)
	if err != nil {
		return nil, err
	}
	r, err := gateway.NewRegistry([]gateway.PluginInfo{info}, nil)
	if err != nil {
		return nil, err
	}
	in, err := r.NewInstance(config.PluginSpec{Name: info.Name, Options: n, Path: "plugins[0]"})
	if err != nil {
		return nil, err
	}
	return in.Plugin, nil
}

// ProvisionPlugin builds a plugin with NewPlugin and provisions it with
// h.For("plugin", name, name) (h nil: a Host that discards logs), failing
// the test on any error.
func ProvisionPlugin(t testing.TB, info gateway.PluginInfo, snippet string, h *gateway.Host) gateway.Plugin {
	t.Helper()
	p, err := NewPlugin(info, snippet)
	if err != nil {
		t.Fatalf("options %q: %v", snippet, err)
	}
	if h == nil {
		h = &gateway.Host{}
	}
	if err := p.Provision(t.Context(), h.For("plugin", info.Name, info.Name)); err != nil {
		t.Fatalf("provision %s: %v", info.Name, err)
	}
	return p
}

// ErrorHandler stands in for the core's Fiber error handler in plugin
// tests: a *gateway.Error is rendered as its status and JSON body, a
// *fiber.Error as its code, anything else as 500 internal.
func ErrorHandler(c *fiber.Ctx, err error) error {
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return c.Status(ge.Status).JSON(ge.Body())
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return c.Status(fe.Code).JSON(fiber.Map{"code": "http_error", "message": fe.Message})
	}
	return c.Status(http.StatusInternalServerError).JSON(gateway.Internal(err).Body())
}

// NewPluginApp returns a Fiber app for plugin tests: ErrorHandler, then the
// engine's RequestContext (trust nil: no proxy is trusted), then each
// plugin's Handle in order. Add the terminal routes to it.
func NewPluginApp(t testing.TB, trust *engine.Trust, plugins ...gateway.Plugin) *fiber.App {
	t.Helper()
	if trust == nil {
		trust = engine.NewTrust(nil)
	}
	app := fiber.New(fiber.Config{ErrorHandler: ErrorHandler, DisableStartupMessage: true})
	app.Use(engine.RequestContext(trust, nil))
	for _, p := range plugins {
		mw, ok := p.(gateway.Middleware)
		if !ok {
			t.Fatalf("%T is not a gateway.Middleware", p)
		}
		app.Use(mw.Handle)
	}
	return app
}

// TrustTestPeer is a Trust that believes app.Test's peer (0.0.0.0), so a
// test request's X-Forwarded-* and X-Request-Id headers act as if a
// trusted proxy had sent them.
func TrustTestPeer() *engine.Trust {
	return engine.NewTrust([]config.CIDR{{Prefix: netip.MustParsePrefix("0.0.0.0/32")}})
}

// Result is the answer to a test request.
type Result struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends req through app.Test, without a time limit (shared CI machines
// are slow; go test's own timeout still applies), and reads the answer.
func Do(t testing.TB, app *fiber.App, req *http.Request) Result {
	t.Helper()
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return Result{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}
