package app_test

// Every exchange of the end-to-end client (client.do) with Gatehouse's own
// endpoints — paths under /auth, /healthz and /readyz — is checked against
// docs/openapi.yaml with kin-openapi's openapi3filter:
//
//   - A request whose method and path the document lacks fails the test.
//   - A request the document accepts must get a response the document
//     describes for that operation: a listed status, its content type, its
//     schema (JSON bodies), and its required headers. text/html and
//     text/javascript answers (pages, form posts that re-render a page)
//     are checked for their status and content type only.
//   - A request the document itself marks invalid (a missing or mistyped
//     field, a malformed JSON body: the tests of 400 validation_failed
//     send them on purpose) is not a failure of the request, but it must
//     be refused with a 4xx, and that response is validated like any
//     other. So no test needs to say which requests are deliberately bad:
//     the document says it, and Gatehouse must agree.
//
// Security requirements are not checked (the e2e tests check who may do
// what); response statuses not in the document are failures. TestMain
// prints how many exchanges were validated.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// openAPIPath is the document, from this package's directory.
const openAPIPath = "../../../docs/openapi.yaml"

var openAPI struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
	// Counts of validated exchanges: requests the document accepted, and
	// requests it marked invalid (whose 4xx answer was validated).
	valid, invalid atomic.Int64
	mu             sync.Mutex
	seen           map[string]int // exchanges per operation id
}

// loadOpenAPI loads and validates the document once per test binary.
func loadOpenAPI() (routers.Router, error) {
	openAPI.once.Do(func() {
		// The JWKS is JSON under its own media type.
		openapi3filter.RegisterBodyDecoder("application/jwk-set+json", openapi3filter.JSONBodyDecoder)
		l := openapi3.NewLoader()
		doc, err := l.LoadFromFile(openAPIPath)
		if err != nil {
			openAPI.err = fmt.Errorf("load %s: %w", openAPIPath, err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			openAPI.err = fmt.Errorf("%s is not a valid OpenAPI document: %w", openAPIPath, err)
			return
		}
		openAPI.doc = doc
		openAPI.seen = map[string]int{}
		openAPI.router, openAPI.err = gorillamux.NewRouter(doc)
	})
	return openAPI.router, openAPI.err
}

// ownPath reports whether path is one of Gatehouse's own endpoints (the
// document's scope) rather than a proxied route.
func ownPath(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/auth" || strings.HasPrefix(path, "/auth/")
}

var openAPIOptions = &openapi3filter.Options{
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	IncludeResponseStatus: true,
	MultiError:            true,
}

// checkOpenAPI validates one exchange of client.do: req (its body still
// readable through GetBody), the response res and its body.
func checkOpenAPI(t testing.TB, req *http.Request, res *http.Response, body []byte) {
	t.Helper()
	if !ownPath(req.URL.Path) {
		return
	}
	router, err := loadOpenAPI()
	if err != nil {
		t.Fatalf("openapi: %v", err)
	}
	// Route on the path alone: the document's server is "/".
	r := req.Clone(context.Background())
	r.URL.Scheme, r.URL.Host, r.Host = "", "", ""
	if req.GetBody != nil {
		if r.Body, err = req.GetBody(); err != nil {
			t.Fatalf("openapi: request body: %v", err)
		}
	}
	route, params, err := router.FindRoute(r)
	if err != nil {
		t.Errorf("openapi: %s %s is not in docs/openapi.yaml (%v); answered %d %.200s", req.Method, req.URL.Path, err, res.StatusCode, body)
		return
	}
	op := route.Operation.OperationID
	openAPI.mu.Lock()
	openAPI.seen[op]++
	openAPI.mu.Unlock()
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: openAPIOptions}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		if res.StatusCode < 400 || res.StatusCode >= 500 {
			t.Errorf("openapi: %s (%s %s): the document marks the request invalid, yet it was answered %d: %v", op, req.Method, req.URL.Path, res.StatusCode, short(err))
			return
		}
		openAPI.invalid.Add(1)
	} else {
		openAPI.valid.Add(1)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode,
		Header: res.Header, Body: io.NopCloser(bytes.NewReader(body)), Options: openAPIOptions}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("openapi: %s (%s %s): response %d does not match: %v; body %.300s", op, req.Method, req.URL.Path, res.StatusCode, short(err), body)
	}
}

// short is err's text without the schema dumps kin-openapi appends.
func short(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		parts := make([]string, 0, len(me))
		for _, e := range me {
			parts = append(parts, short(e))
		}
		return strings.Join(parts, "; ")
	}
	s := err.Error()
	if i := strings.Index(s, "\nSchema:"); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "\n", " ")
}

// reportOpenAPI is the log line of TestMain: how many exchanges were
// validated, and the operations no test exercised.
func reportOpenAPI() {
	v, i := openAPI.valid.Load(), openAPI.invalid.Load()
	if v+i == 0 {
		return
	}
	fmt.Printf("openapi: validated %d exchanges against docs/openapi.yaml (%d requests and responses, %d requests the document marks invalid with their 4xx responses)\n", v+i, v, i)
	var unseen []string
	openAPI.mu.Lock()
	for _, item := range openAPI.doc.Paths.Map() {
		for _, op := range item.Operations() {
			if openAPI.seen[op.OperationID] == 0 {
				unseen = append(unseen, op.OperationID)
			}
		}
	}
	openAPI.mu.Unlock()
	slices.Sort(unseen)
	fmt.Printf("openapi: %d operations, %d not exercised by the tests run: %s\n", len(openAPI.seen)+len(unseen), len(unseen), strings.Join(unseen, " "))
}

// TestOpenAPIDocument loads docs/openapi.yaml as the e2e validation does.
func TestOpenAPIDocument(t *testing.T) {
	if _, err := loadOpenAPI(); err != nil {
		t.Fatal(err)
	}
	if !openAPI.doc.IsOpenAPI31OrLater() {
		t.Errorf("docs/openapi.yaml is OpenAPI %s, want 3.1", openAPI.doc.OpenAPI)
	}
}

// TestOpenAPICoversEveryRoute checks the other direction: every route the
// running Gatehouse mounts (its own endpoints; HEAD goes with GET) is an
// operation of docs/openapi.yaml, and every operation is mounted.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	if _, err := loadOpenAPI(); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, "embedded", withOIDCProvider)
	template := func(p string) string { // /a/:id and /a/{id} → /a/{}
		parts := strings.Split(p, "/")
		for i, x := range parts {
			if strings.HasPrefix(x, ":") || strings.HasPrefix(x, "{") {
				parts[i] = "{}"
			}
		}
		return strings.Join(parts, "/")
	}
	mounted := map[string]bool{}
	for _, r := range s.App.Server.App().GetRoutes(true) {
		if r.Method == http.MethodHead || !ownPath(r.Path) {
			continue
		}
		mounted[r.Method+" "+template(strings.TrimSuffix(r.Path, "/"))] = true
	}
	if len(mounted) < 10 {
		t.Fatalf("only %d own routes found: %v", len(mounted), mounted)
	}
	documented := map[string]bool{}
	for p, item := range openAPI.doc.Paths.Map() {
		for m := range item.Operations() {
			documented[m+" "+template(p)] = true
		}
	}
	for k := range mounted {
		if !documented[k] {
			t.Errorf("%s is served but not in docs/openapi.yaml", k)
		}
	}
	for k := range documented {
		if !mounted[k] {
			t.Errorf("%s is in docs/openapi.yaml but not served", k)
		}
	}
	t.Logf("%d routes served, all in docs/openapi.yaml", len(mounted))
}
