package twilio

import (
	"net/url"
	"testing"
)

// TestTwilioSignature checks the signature against Twilio's published
// examples (its request-validation documentation and helper libraries) and
// refuses every altered request.
func TestTwilioSignature(t *testing.T) {
	const publishedURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
	published := func(caller string) url.Values {
		return url.Values{
			"CallSid": {"CA1234567890ABCDE"},
			"Caller":  {caller},
			"Digits":  {"1234"},
			"From":    {caller},
			"To":      {"+18005551212"},
		}
	}
	for _, ex := range []struct {
		caller, signature string
	}{
		{"+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="},
		{"+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
	} {
		params := published(ex.caller)
		if got := Signature("12345", publishedURL, params); got != ex.signature {
			t.Errorf("Signature(published example, caller %s) = %q, want %q", ex.caller, got, ex.signature)
		}
		if !ValidSignature(ex.signature, publishedURL, params, "12345") {
			t.Errorf("published signature for caller %s does not validate", ex.caller)
		}
		if !ValidSignature(ex.signature, publishedURL, params, "rotated-token", "12345") {
			t.Errorf("the previous token of a rotation is not accepted")
		}
	}

	const good = "GvWf1cFY/Q7PnoempGyD5oXAezc="
	altered := func(change func(url.Values)) url.Values {
		p := published("+14158675310")
		change(p)
		return p
	}
	for _, tc := range []struct {
		name      string
		signature string
		url       string
		params    url.Values
		tokens    []string
	}{
		{"missing signature", "", publishedURL, published("+14158675310"), []string{"12345"}},
		{"wrong token", good, publishedURL, published("+14158675310"), []string{"54321"}},
		{"no token", good, publishedURL, published("+14158675310"), nil},
		{"empty token", good, publishedURL, published("+14158675310"), []string{""}},
		{"other host", good, "https://evil.example/myapp.php?foo=1&bar=2", published("+14158675310"), []string{"12345"}},
		{"http instead of https", good, "http://mycompany.com/myapp.php?foo=1&bar=2", published("+14158675310"), []string{"12345"}},
		{"query changed", good, "https://mycompany.com/myapp.php?foo=1&bar=3", published("+14158675310"), []string{"12345"}},
		{"value changed", good, publishedURL, altered(func(p url.Values) { p.Set("Digits", "1235") }), []string{"12345"}},
		{"parameter added", good, publishedURL, altered(func(p url.Values) { p.Set("Body", "hi") }), []string{"12345"}},
		{"parameter removed", good, publishedURL, altered(func(p url.Values) { p.Del("Digits") }), []string{"12345"}},
		{"truncated signature", good[:len(good)-2], publishedURL, published("+14158675310"), []string{"12345"}},
		{"case changed", "gvWf1cFY/Q7PnoempGyD5oXAezc=", publishedURL, published("+14158675310"), []string{"12345"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ValidSignature(tc.signature, tc.url, tc.params, tc.tokens...) {
				t.Errorf("validated, want refused")
			}
		})
	}

	t.Run("repeated parameter", func(t *testing.T) {
		a := url.Values{"MediaUrl": {"b", "a"}}
		b := url.Values{"MediaUrl": {"a", "b"}}
		if Signature("t", "https://x/", a) != Signature("t", "https://x/", b) {
			t.Errorf("the order of a repeated parameter's values changes the signature")
		}
	})
}
