package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/license"
)

// newPublishedEnv is a test server with an ENTERPRISE org (its client and a
// raw API key), an app version published to production and a web chat
// resource.
func newPublishedEnv(t *testing.T) (*testEnv, *client.Client, string, *client.Version, *client.Deployment, *client.ChannelResource) {
	t.Helper()
	env := newEnv(t)
	_, c := env.newOrg("Acme", domain.PlanEnterprise)
	key := apiKeyOf(t, c)
	_, version, dep := publishApp(t, c, client.EnvProduction)
	res, err := c.CreateChannelResource(t.Context(), client.CreateChannelResourceRequest{Kind: client.KindWebChat, Name: "w", Address: "w"})
	if err != nil {
		t.Fatal(err)
	}
	return env, c, key, version, dep, res
}

// TestInvalidTextInJSONBodies checks that invalid UTF-8 and unpaired
// surrogate escapes are refused anywhere in a body, before decoding would
// turn them into U+FFFD and make two different inputs one identifier.
func TestInvalidTextInJSONBodies(t *testing.T) {
	env, c, key, _, dep, res := newPublishedEnv(t)
	first, err := c.StartConversation(t.Context(), client.StartConversationRequest{DeploymentID: dep.ID, ResourceID: res.ID, CustomerDestination: "d1"})
	if err != nil {
		t.Fatal(err)
	}
	update := func(identifier string) string {
		return fmt.Sprintf(`{"inputs":{"conversationId":%q,"customerIdentifier":"%s"}}`, first.Conversation.ID, identifier)
	}
	start := fmt.Sprintf(`{"deploymentId":%q,"resourceId":%q,"customerDestination":"d2",`, dep.ID, res.ID)

	refused := []struct{ name, path, body string }{
		{"invalid byte in an identifier", "/v1/data-operations/update_customer_identifier", update("ext:u\xff")},
		{"another invalid byte", "/v1/data-operations/update_customer_identifier", update("ext:u\xfe")},
		{"truncated sequence", "/v1/data-operations/update_customer_identifier", update("ext:u\xc3")},
		{"encoded surrogate half", "/v1/data-operations/update_customer_identifier", update("ext:u\xed\xa0\x80")},
		{"lone high surrogate escape", "/v1/data-operations/update_customer_identifier", update(`ext:u\ud800`)},
		{"lone low surrogate escape", "/v1/data-operations/update_customer_identifier", update(`ext:u\udc00`)},
		{"high surrogate then text", "/v1/data-operations/update_customer_identifier", update(`ext:u\ud800x`)},
		{"two high surrogates", "/v1/data-operations/update_customer_identifier", update(`ext:u\ud800\ud800`)},
		{"reversed pair", "/v1/data-operations/update_customer_identifier", update(`ext:u\udc00\ud800`)},
		{"high surrogate at the end of a string", "/v1/data-operations/update_customer_identifier", update(`ext:u\uD83D`)},
		{"invalid byte in a field name", "/v1/apps", "{\"na\xffme\":\"bot\"}"},
		{"invalid byte in an app name", "/v1/apps", "{\"name\":\"bot\xff\"}"},
		{"surrogate in a bot definition", "/v1/apps/app_x/versions", `{"definition":{"say":"\udfff"}}`},
		{"surrogate in a start request", "/v1/conversations", start + `"customerIdentifier":"ext:\ud800"}`},
		{"invalid byte in a start request", "/v1/conversations", start + "\"externalId\":\"\xff\"}"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			p := decodeProblem(t, env.postJSON(tc.path, key, tc.body), http.StatusBadRequest, domain.CodeInvalidArgument)
			if !strings.Contains(p.Detail, "UTF-8") && !strings.Contains(p.Detail, "surrogate") {
				t.Errorf("detail %q does not say what is wrong with the text", p.Detail)
			}
		})
	}

	// Nothing was stored: the first customer still has no identifier.
	if cus, err := c.GetCustomer(t.Context(), first.Customer.ID); err != nil || cus.Identifier != nil {
		t.Fatalf("customer after refused updates = %+v (%v), want no identifier", cus, err)
	}

	// Valid escapes pass: a surrogate pair is one character, and an escaped
	// backslash followed by "ud800" is plain text.
	ok := env.postJSON("/v1/data-operations/update_customer_identifier", key, update(`ext:\ud83d\ude00\\ud800`))
	if ok.status != http.StatusOK {
		t.Fatalf("valid escapes = %d %s, want 200", ok.status, ok.body)
	}
	cus, err := c.GetCustomer(t.Context(), first.Customer.ID)
	if err != nil || cus.Identifier == nil || *cus.Identifier != "ext:\U0001F600\\ud800" {
		t.Fatalf("customer = %+v (%v), want ext:😀\\ud800", cus, err)
	}
}

// TestEmptyCustomerIdentifier checks that a customerIdentifier present and
// empty is identifier_invalid on every route, like a blank one, while an
// absent or null one means "no identifier".
func TestEmptyCustomerIdentifier(t *testing.T) {
	env, c, key, version, dep, res := newPublishedEnv(t)
	conversation := fmt.Sprintf(`{"deploymentId":%q,"resourceId":%q,"customerDestination":"d"`, dep.ID, res.ID)
	preview := fmt.Sprintf(`{"versionId":%q,"resourceId":%q,"customerDestination":"d"`, version.ID, res.ID)
	for _, route := range []struct{ path, prefix string }{{"/v1/conversations", conversation}, {"/v1/previews", preview}} {
		for _, value := range []string{`""`, `"   "`, `"\u00a0"`} {
			r := env.postJSON(route.path, key, route.prefix+`,"customerIdentifier":`+value+`}`)
			decodeProblem(t, r, http.StatusBadRequest, domain.CodeIdentifierInvalid)
		}
		for _, absent := range []string{route.prefix + `}`, route.prefix + `,"customerIdentifier":null}`} {
			r := env.postJSON(route.path, key, absent)
			if r.status != http.StatusCreated {
				t.Fatalf("POST %s %s = %d %s, want 201", route.path, absent, r.status, r.body)
			}
			var st client.StartedConversation
			if err := json.Unmarshal(r.body, &st); err != nil || st.Customer.Identifier != nil {
				t.Fatalf("started %s (%v), want a customer without identifier", r.body, err)
			}
		}
	}
	conversations, err := c.ListConversations(t.Context(), client.ListConversationsParams{})
	if err != nil || len(conversations.Items) != 4 {
		t.Fatalf("conversations = %+v (%v), want only the 4 started without identifier", conversations, err)
	}
}

// TestInstallLicenseErrorsDescribeTheToken checks that a refused licence
// token is described as the token given, not as an installed licence.
func TestInstallLicenseErrorsDescribeTheToken(t *testing.T) {
	env := newEnv(t)
	org, c := env.newOrg("Acme", domain.PlanStandard)
	other, _ := env.newOrg("Other", "")
	issue := func(o domain.OrgID, expires time.Time) string {
		token, err := license.Issue(env.signer, domain.License{OrgID: o, Plan: domain.PlanEnterprise, IssuedAt: testStart.Add(-48 * time.Hour), ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	cases := []struct{ name, token, detail string }{
		{"empty", "", "the licence token is empty"},
		{"blank", "  ", "the licence token is empty"},
		{"another org's", issue(other.ID, testStart.AddDate(1, 0, 0)), "this licence token is for organization " + string(other.ID) + ", not " + string(org.ID)},
		{"expired", issue(org.ID, testStart.Add(-time.Hour)), "this licence token expired at "},
		{"garbage", "nope", "licence token does not start with"},
	}
	for _, tc := range cases {
		_, err := c.InstallLicense(t.Context(), tc.token)
		ce := wantCode(t, err, http.StatusForbidden, domain.CodeLicenseRequired)
		if !strings.HasPrefix(ce.Detail, tc.detail) {
			t.Errorf("%s token: detail %q, want it to start with %q", tc.name, ce.Detail, tc.detail)
		}
	}
	if lic, err := c.GetLicense(t.Context()); err != nil || lic.Plan != "standard" {
		t.Fatalf("licence after refused installs = %+v (%v), want the standard one still", lic, err)
	}
}
