package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/poolhost/poolhost/host/httpapi"
)

// The API description is checked, not only listed: openapi.yaml must be a valid
// OpenAPI 3 document (kin-openapi's validator), every operation must have an
// operationId, and every request and answer an API test sees goes through
// specTransport, which holds it against the document.

var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
)

func loadSpec() (*openapi3.T, routers.Router, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		specDoc, specErr = loader.LoadFromData(httpapi.Spec)
		if specErr != nil {
			return
		}
		if specErr = specDoc.Validate(loader.Context); specErr != nil {
			return
		}
		// The document names one example server; tests listen on a random port, so the
		// router must match paths on any host.
		doc := *specDoc
		doc.Servers = nil
		specRouter, specErr = gorillamux.NewRouter(&doc)
	})
	return specDoc, specRouter, specErr
}

// TestSpecIsValidOpenAPI validates openapi.yaml as an OpenAPI 3 document and requires an
// operationId on every operation, so generated clients get the method names we choose.
func TestSpecIsValidOpenAPI(t *testing.T) {
	doc, _, err := loadSpec()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	seen := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", where)
				continue
			}
			if prev, dup := seen[op.OperationID]; dup {
				t.Errorf("operationId %s is used by %s and %s", op.OperationID, prev, where)
			}
			seen[op.OperationID] = where
		}
	}
}

// TestSpecValidationCatchesDrift proves the transport is not vacuous: an answer the spec
// does not declare is reported.
func TestSpecValidationCatchesDrift(t *testing.T) {
	_, router, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	rq, _ := http.NewRequest("GET", "http://x/v1/pools", nil)
	rq.Header.Set("Authorization", "Bearer t")
	for _, tc := range []struct {
		status int
		ct     string
		body   string
	}{
		{200, "application/json", `{"pools": [{"id": "not a number"}]}`},
		{418, "application/problem+json", `{"type": "x", "title": "t", "status": 418}`},
		{401, "application/problem+json", `{"title": "no type"}`},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {tc.ct}},
			Body: io.NopCloser(strings.NewReader(tc.body))}
		if err := checkResponse(router, rq, nil, resp, []byte(tc.body)); err == nil {
			t.Errorf("status %d %s: not reported", tc.status, tc.body)
		}
	}
}

// specTransport sends requests through base and checks each exchange against
// openapi.yaml:
//   - the answer's status must be declared for the operation, and its body must match
//     the declared schema (problems included);
//   - a request the spec refuses (bad parameter, body that does not match its schema)
//     must be refused by the server too, with a 4xx: tests send bad input on purpose,
//     and the host must be at least as strict as its description.
//
// Requests to paths the spec does not have (a test of the 404 fallback) are not checked.
type specTransport struct {
	t    testing.TB
	base http.RoundTripper
}

func (s specTransport) RoundTrip(rq *http.Request) (*http.Response, error) {
	_, router, err := loadSpec()
	if err != nil {
		s.t.Errorf("openapi.yaml: %v", err)
		return s.base.RoundTrip(rq)
	}
	var reqBody []byte
	if rq.Body != nil {
		reqBody, err = io.ReadAll(rq.Body)
		if err != nil {
			return nil, err
		}
		rq.Body.Close()
		rq.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := s.base.RoundTrip(rq)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err := checkResponse(router, rq, reqBody, resp, respBody); err != nil {
		s.t.Errorf("openapi.yaml: %s %s → %d: %v\nresponse: %.500s", rq.Method, rq.URL.Path, resp.StatusCode, err, respBody)
	}
	return resp, nil
}

// checkResponse holds one exchange against the spec (see specTransport).
func checkResponse(router routers.Router, rq *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	check := rq.Clone(context.Background())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := router.FindRoute(check)
	if errors.Is(err, routers.ErrPathNotFound) {
		return nil
	}
	if errors.Is(err, routers.ErrMethodNotAllowed) {
		if resp.StatusCode != http.StatusMethodNotAllowed {
			return fmt.Errorf("an undocumented method answered %d, want 405", resp.StatusCode)
		}
		return nil
	}
	if err != nil {
		return err
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		MultiError:            true,
	}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: opts}
	// Webhook bodies are the provider's bytes (*/* in the spec), judged by the plugin.
	if route.PathItem.Extensions["x-poolhost-group"] == "ingest" && strings.HasPrefix(route.Path, "/v1/webhooks/") {
		opts.ExcludeRequestBody = true
	}
	if reqErr := openapi3filter.ValidateRequest(context.Background(), in); reqErr != nil && resp.StatusCode < 400 {
		return fmt.Errorf("the server accepted a request the spec refuses: %v", reqErr)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                opts,
	}
	return openapi3filter.ValidateResponse(context.Background(), out)
}
