package console

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/domain"
)

// TestConsoleSecurity checks the console's defences: no page without a
// session, CSRF tokens on every state-changing form, org isolation, the
// end of sessions with their key, escaping of user-supplied text, and the
// Content-Security-Policy that forbids inline scripts and styles.
func TestConsoleSecurity(t *testing.T) {
	e := newEnv(t)
	e.catchUp()
	a, b := e.newTenant("a"), e.newTenant("b")
	ctx := t.Context()
	convA := e.start(a, "web-a", "tel:+15550100001")
	convB := e.start(b, "web-b", "tel:+15550100001")

	t.Run("no page without a session", func(t *testing.T) {
		anon := e.browser()
		pages := []string{
			"/console/", "/console/search?q=" + convA.ID, "/console/customers/" + convA.CustomerID,
			"/console/conversations/" + convA.ID, "/console/sessions/" + convA.SessionID, "/console/runs",
			"/console/apps", "/console/apps/" + a.app, "/console/webhooks", "/console/webhooks/" + a.endpoint,
			"/console/customers", "/console/identifiers?value=tel:%2B15550100009", "/console/no-such-page",
		}
		for _, p := range pages {
			r := anon.get(p)
			if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/console/sign-in?next=") {
				t.Errorf("GET %s without a session: %d to %q, want 303 to the sign-in page", p, r.status, r.location)
			}
			if strings.Contains(r.body, "15550100001") || strings.Contains(r.body, "Website") {
				t.Errorf("GET %s without a session shows data", p)
			}
		}
		if r := anon.get("/console/conversations/" + convA.ID + "/live"); r.status != http.StatusUnauthorized {
			t.Errorf("live stream without a session: %d, want 401", r.status)
		}
		// A form posted without a session changes nothing.
		r := anon.post("/console/conversations/"+convA.ID+"/close", url.Values{"csrf": {"x"}})
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/console/sign-in") {
			t.Errorf("POST close without a session: %d to %q", r.status, r.location)
		}
		wantStatus(t, a.api, convA.ID, "live")
		// The sign-in page and the assets are public.
		if r := anon.get("/console/sign-in"); r.status != http.StatusOK {
			t.Errorf("sign-in page: %d", r.status)
		}
		if r := anon.get(assetURL("console.css")); r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
			t.Errorf("stylesheet: %d %s", r.status, r.header.Get("Content-Type"))
		}
	})

	t.Run("sign-in refuses forged forms and runtime keys", func(t *testing.T) {
		br := e.browser()
		br.get("/console/sign-in") // sets the sign-in cookie
		r := br.post("/console/sign-in", url.Values{"key": {a.key.Secret}, "csrf": {"forged"}})
		if r.status != http.StatusForbidden || br.sessionToken() != "" {
			t.Errorf("sign-in with a forged token: %d, session %q", r.status, br.sessionToken())
		}
		if r := e.browser().post("/console/sign-in", url.Values{"key": {a.key.Secret}}); r.status != http.StatusForbidden {
			t.Errorf("sign-in without the form's token: %d", r.status)
		}
		runtime, err := a.api.CreateAPIKey(ctx, client.CreateAPIKeyRequest{Name: "bot", Scope: "runtime"})
		must(t, err)
		br = e.browser()
		if r := br.signIn(runtime.Secret); r.status != http.StatusForbidden || !strings.Contains(r.body, "admin key") || br.sessionToken() != "" {
			t.Errorf("sign-in with a runtime key: %d, session %q", r.status, br.sessionToken())
		}
		br = e.browser()
		if r := br.signIn("pk_not-a-key"); r.status != http.StatusUnauthorized || br.sessionToken() != "" {
			t.Errorf("sign-in with an unknown key: %d", r.status)
		}
	})

	op := e.browser()
	if r := op.signIn(a.key.Secret); r.status != http.StatusSeeOther || r.location != "/console/" {
		t.Fatalf("sign-in: %d to %q: %s", r.status, r.location, r.body)
	}
	closePath := "/console/conversations/" + convA.ID + "/close"

	t.Run("forged or missing CSRF token is refused", func(t *testing.T) {
		other := e.browser()
		if r := other.signIn(a.key.Secret); r.status != http.StatusSeeOther {
			t.Fatalf("second sign-in: %d", r.status)
		}
		cases := map[string]url.Values{
			"missing":           {},
			"empty":             {"csrf": {""}},
			"forged":            {"csrf": {"forged-token"}},
			"another session's": {"csrf": {other.csrf("/console/")}},
		}
		for name, form := range cases {
			for _, p := range []string{closePath, "/console/conversations/" + convA.ID + "/messages",
				"/console/customers/" + convA.CustomerID + "/identifier", "/console/sign-out",
				"/console/webhooks/" + a.endpoint + "/replay"} {
				form := cloneValues(form)
				form.Set("text", "hello")
				form.Set("identifier", "tel:+15550100009")
				if r := op.post(p, form); r.status != http.StatusForbidden {
					t.Errorf("POST %s with a %s token: %d, want 403", p, name, r.status)
				}
			}
		}
		// A valid token from another site's page is refused too.
		req, err := http.NewRequestWithContext(ctx, "POST", e.srv.URL+closePath,
			strings.NewReader(url.Values{"csrf": {op.csrf("/console/")}}.Encode()))
		must(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		if r := op.do(req); r.status != http.StatusForbidden {
			t.Errorf("POST from another origin: %d, want 403", r.status)
		}
		wantStatus(t, a.api, convA.ID, "live")
		msgs, err := a.api.ListMessages(ctx, convA.ID, client.ListMessagesParams{})
		must(t, err)
		if len(msgs) != 0 {
			t.Errorf("refused forms wrote %d messages", len(msgs))
		}
		cus, err := a.api.GetCustomer(ctx, convA.CustomerID)
		must(t, err)
		if cus.Identifier == nil || *cus.Identifier != "tel:+15550100001" {
			t.Errorf("refused forms changed the identifier: %v", cus.Identifier)
		}
		// With the page's token the same form works.
		if r := op.post(closePath, url.Values{"csrf": {op.csrf("/console/conversations/" + convA.ID)}}); r.status != http.StatusSeeOther {
			t.Errorf("POST close with the right token: %d: %s", r.status, r.body)
		}
		wantStatus(t, a.api, convA.ID, "closed")
	})

	t.Run("another org's ids are not found", func(t *testing.T) {
		for _, p := range []string{
			"/console/customers/" + convB.CustomerID, "/console/conversations/" + convB.ID,
			"/console/sessions/" + convB.SessionID, "/console/apps/" + b.app, "/console/conversations/" + convB.ID + "/live",
			"/console/webhooks/" + b.endpoint,
		} {
			r := op.get(p)
			if r.status != http.StatusNotFound {
				t.Errorf("GET %s of org b from org a: %d, want 404", p, r.status)
			}
			if strings.Contains(r.body, convB.ID) || strings.Contains(r.body, convB.CustomerID) {
				t.Errorf("GET %s of org b shows org b's ids", p)
			}
		}
		token := op.csrf("/console/")
		for _, p := range []string{"/console/conversations/" + convB.ID + "/close", "/console/conversations/" + convB.ID + "/messages",
			"/console/customers/" + convB.CustomerID + "/identifier", "/console/webhooks/" + b.endpoint + "/replay"} {
			r := op.post(p, url.Values{"csrf": {token}, "text": {"hi"}, "identifier": {"tel:+15550100777"}, "failed": {"1"}})
			if r.status != http.StatusNotFound {
				t.Errorf("POST %s of org b from org a: %d, want 404", p, r.status)
			}
		}
		wantStatus(t, b.api, convB.ID, "live")
		// The holders of an identifier both orgs use are org a's only.
		r := op.get("/console/identifiers?value=" + url.QueryEscape("tel:+15550100001"))
		if r.status != http.StatusOK || !strings.Contains(r.body, convA.CustomerID) || strings.Contains(r.body, convB.CustomerID) {
			t.Errorf("holders page from org a: %d, shows org a's holder %v, org b's %v", r.status,
				strings.Contains(r.body, convA.CustomerID), strings.Contains(r.body, convB.CustomerID))
		}
		if r := op.get("/console/customers"); strings.Contains(r.body, convB.CustomerID) {
			t.Error("the customers list of org a shows org b's customer")
		}
		// Searching org b's conversation id finds nothing in org a.
		r = op.get("/console/search?q=" + url.QueryEscape(convB.ID))
		if r.status != http.StatusOK || strings.Contains(r.body, "/console/conversations/"+convB.ID) || strings.Contains(r.body, convB.CustomerID) {
			t.Errorf("search of org b's conversation id from org a: %d, shows it", r.status)
		}
	})

	t.Run("user-supplied text is escaped", func(t *testing.T) {
		const ident = `<script>alert("id")</script>`
		const text = `<script>alert("msg")</script><b>bold</b> & more`
		st := e.start(a, "web-xss", ident)
		_, err := a.api.AddMessage(ctx, st.ID, client.AddMessageRequest{Text: text})
		must(t, err)
		for _, p := range []string{
			"/console/", "/console/customers/" + st.CustomerID, "/console/conversations/" + st.ID,
			"/console/search?q=" + url.QueryEscape(ident), "/console/identifiers?value=" + url.QueryEscape(ident),
			"/console/customers",
		} {
			r := op.get(p)
			if r.status != http.StatusOK {
				t.Errorf("GET %s: %d", p, r.status)
				continue
			}
			if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<b>bold") {
				t.Errorf("GET %s: user text is not escaped", p)
			}
			if !strings.Contains(r.body, "&lt;script&gt;alert(") {
				t.Errorf("GET %s: the escaped text is missing", p)
			}
		}
		// The live stream carries it as JSON data, which the page inserts as
		// text (TestConsoleBrowser checks the page).
		if r := op.get("/console/conversations/" + st.ID); !strings.Contains(r.body, "&lt;b&gt;bold&lt;/b&gt; &amp; more") {
			t.Error("transcript does not show the message as text")
		}
	})

	t.Run("pages allow no inline script or style", func(t *testing.T) {
		inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>|<style|\sstyle=|\son[a-z]+=|javascript:`)
		for _, p := range []string{"/console/", "/console/customers/" + convA.CustomerID, "/console/conversations/" + convA.ID,
			"/console/runs", "/console/apps", "/console/apps/" + a.app, "/console/search?q=nobody", "/console/customers",
			"/console/identifiers?value=tel:%2B15550100001",
			"/console/webhooks", "/console/webhooks/" + a.endpoint} {
			r := op.get(p)
			csp := r.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("GET %s: Content-Security-Policy %q", p, csp)
			}
			for _, m := range inline.FindAllString(r.body, -1) {
				if !strings.Contains(m, `src="/console/assets/`) {
					t.Errorf("GET %s: inline script or style %q", p, m)
				}
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("GET %s: headers %v", p, r.header)
			}
		}
	})

	t.Run("a revoked key ends its sessions", func(t *testing.T) {
		token := op.sessionToken()
		if token == "" {
			t.Fatal("no session cookie")
		}
		key, err := e.svc.ConsoleSession(ctx, token)
		must(t, err)
		must(t, a.api.RevokeAPIKey(ctx, string(key.APIKeyID)))
		r := op.get("/console/")
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/console/sign-in") {
			t.Errorf("page after revoking the key: %d to %q, want the sign-in page", r.status, r.location)
		}
		if _, err := e.svc.ConsoleSession(ctx, token); domain.ErrorCode(err) != domain.CodeUnauthorized {
			t.Errorf("session after revoking its key: %v", err)
		}
		e.store.View(ctx, func(tx domain.Tx) error {
			if _, err := tx.GetConsoleSession(ctx, hashToken(token)); !domain.IsNotFound(err) {
				t.Errorf("session row after revoking its key: %v", err)
			}
			return nil
		})
	})
}

func wantStatus(t *testing.T, api *client.Client, conv, status string) {
	t.Helper()
	c, err := api.GetConversation(t.Context(), conv)
	must(t, err)
	if c.Status != status {
		t.Errorf("conversation %s is %s, want %s", conv, c.Status, status)
	}
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
