// Package twilio is Parley's Twilio-compatible SMS channel: the request
// signature Twilio puts on its webhooks, the inbound message and status
// callback handlers, and the client and worker that send queued replies
// through the Messages API.
package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// SignatureHeader carries Twilio's signature of a webhook request.
const SignatureHeader = "X-Twilio-Signature"

// Signature is Twilio's signature of a request: the base64 HMAC-SHA1,
// keyed with the account's auth token, of the full URL Twilio requested
// followed by every POST parameter's name and value, sorted by name (a
// repeated name contributes each of its values, in sorted order).
func Signature(authToken, fullURL string, params url.Values) string {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, name := range names {
		values := append([]string(nil), params[name]...)
		sort.Strings(values)
		for _, v := range values {
			b.WriteString(name)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ValidSignature reports whether signature is the signature of the request
// under one of authTokens (the current token and, during a rotation, the
// previous one). An empty signature or token never validates. The
// comparison takes constant time.
func ValidSignature(signature, fullURL string, params url.Values, authTokens ...string) bool {
	if signature == "" {
		return false
	}
	for _, token := range authTokens {
		if token == "" {
			continue
		}
		want := Signature(token, fullURL, params)
		if hmac.Equal([]byte(want), []byte(signature)) {
			return true
		}
	}
	return false
}
