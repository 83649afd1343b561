package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/parleyhq/parley/e2e/proc"
)

// TestConsoleServed checks that parley serve mounts the operator console
// beside the API: /console/ asks for a sign-in, an org's admin key signs in,
// and every other path is still the API.
func TestConsoleServed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the parley binary")
	}
	bin := proc.Build(t)
	data := t.TempDir()
	srv := proc.Start(t, bin, "--data", data)
	if !strings.Contains(srv.Logs(), "/console/") {
		t.Errorf("the server log does not give the console's address:\n%s", srv.Logs())
	}
	acme := createOrg(t, bin, data, "PARLEY", "--name", "Acme", "--plan", "enterprise")

	jar, err := cookiejar.New(nil)
	must(t, err)
	hc := &http.Client{Jar: jar}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := hc.Get(srv.URL() + path)
		must(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		must(t, err)
		return resp, string(body)
	}
	resp, body := get("/console")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/sign-in" || !strings.Contains(body, "Admin API key") {
		t.Fatalf("GET /console ends at %s with %d, want the sign-in page", resp.Request.URL, resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if csrf == nil {
		t.Fatal("no CSRF token in the sign-in form")
	}
	resp, err = hc.PostForm(srv.URL()+"/console/sign-in", url.Values{"key": {acme.key}, "csrf": {csrf[1]}})
	must(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, err)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/" || !strings.Contains(string(page), "Acme") {
		t.Fatalf("sign-in ends at %s with %d, want the console's home page of Acme", resp.Request.URL, resp.StatusCode)
	}
	if resp, body := get("/no-such-route"); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("an unknown path outside /console: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
