package httpapi

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// openAPIDoc is the part of the OpenAPI document the tests check.
type openAPIDoc struct {
	OpenAPI    string                                 `json:"openapi"`
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
		Schemas map[string]struct {
			Properties map[string]struct {
				Enum []string `json:"enum"`
			} `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string `json:"operationId"`
	Parameters  []struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	RequestBody *json.RawMessage           `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Security    []map[string][]string      `json:"security"`
}

var pathParam = regexp.MustCompile(`\{([A-Za-z]+)\}`)

// TestOpenAPIMatchesRoutes checks that every registered route is
// documented and every documented operation is registered, with its path
// parameters, security, Idempotency-Key and a success response.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if b := doc.Components.SecuritySchemes["bearerAuth"]; b.Type != "http" || b.Scheme != "bearer" {
		t.Fatalf("bearerAuth security scheme = %+v", b)
	}

	registered := map[string]bool{}
	operationIDs := map[string]bool{}
	for _, rt := range newServer(Config{}).routes() {
		key := rt.method + " " + rt.pattern
		registered[key] = true
		// ServeMux and OpenAPI write path parameters alike: {name}.
		op, ok := doc.Paths[rt.pattern][strings.ToLower(rt.method)]
		if !ok {
			t.Errorf("route %s is not documented", key)
			continue
		}
		if op.OperationID == "" || operationIDs[op.OperationID] {
			t.Errorf("%s: operationId %q is empty or repeated", key, op.OperationID)
		}
		operationIDs[op.OperationID] = true
		var documented []string
		idempotencyKey := false
		for _, p := range op.Parameters {
			if p.In == "path" {
				documented = append(documented, p.Name)
			}
			idempotencyKey = idempotencyKey || p.Ref == "#/components/parameters/IdempotencyKey"
		}
		var want []string
		for _, m := range pathParam.FindAllStringSubmatch(rt.pattern, -1) {
			want = append(want, m[1])
		}
		if !slices.Equal(documented, want) {
			t.Errorf("%s: documented path parameters %v, want %v", key, documented, want)
		}
		if idempotencyKey != rt.idempotent {
			t.Errorf("%s: Idempotency-Key documented %v, honoured %v", key, idempotencyKey, rt.idempotent)
		}
		if secured := len(op.Security) > 0; secured != rt.authenticated() {
			t.Errorf("%s: documented security %v, route requires a key %v", key, op.Security, rt.authenticated())
		}
		if rt.authenticated() {
			if _, ok := op.Responses["401"]; !ok {
				t.Errorf("%s: 401 response not documented", key)
			}
		}
		success := false
		for status := range op.Responses {
			success = success || strings.HasPrefix(status, "2")
		}
		if !success {
			t.Errorf("%s: no success response documented", key)
		}
		if (rt.method == "POST" || rt.method == "PUT") && op.RequestBody == nil && !strings.HasSuffix(rt.pattern, "/close") {
			t.Errorf("%s: request body not documented", key)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if key := strings.ToUpper(method) + " " + path; !registered[key] {
				t.Errorf("documented operation %s is not registered", key)
			}
		}
	}

	codes := doc.Components.Schemas["Problem"].Properties["code"].Enum
	for code := range problemKinds {
		if !slices.Contains(codes, code) {
			t.Errorf("problem code %s is missing from the Problem schema's enum", code)
		}
	}
	checkRefs(t, openAPIDocument)
}

// checkRefs fails for a $ref that does not resolve inside the document.
func checkRefs(t *testing.T, raw []byte) {
	t.Helper()
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && resolve(root, ref) == nil {
				t.Errorf("$ref %s does not resolve", ref)
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(root)
}

func resolve(root any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	node := root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[part]
	}
	return node
}
