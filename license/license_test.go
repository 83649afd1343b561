package license

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/domain"
)

var (
	issued  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	expires = issued.Add(365 * 24 * time.Hour)
)

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func enterprise(org domain.OrgID) domain.License {
	return domain.License{OrgID: org, Plan: domain.PlanEnterprise, IssuedAt: issued, ExpiresAt: expires}
}

func issue(t *testing.T, priv ed25519.PrivateKey, l domain.License) string {
	t.Helper()
	token, err := Issue(priv, l)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return token
}

// wantCode fails unless err is a *domain.Error with code and a message
// containing msg.
func wantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	if !strings.Contains(de.Message, msg) {
		t.Fatalf("error message %q does not mention %q", de.Message, msg)
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	pub, priv := newKey(t)
	for _, plan := range []domain.Plan{domain.PlanStandard, domain.PlanEnterprise} {
		in := domain.License{
			OrgID:     "org_1",
			Plan:      plan,
			IssuedAt:  issued.Add(500 * time.Millisecond), // sub-second part is dropped
			ExpiresAt: expires,
			KeyID:     "ignored",
		}
		token := issue(t, priv, in)
		if !strings.HasPrefix(token, TokenPrefix) {
			t.Fatalf("token %q lacks prefix", token)
		}
		got, err := NewVerifier(pub).Verify(token)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		want := domain.License{OrgID: "org_1", Plan: plan, IssuedAt: issued, ExpiresAt: expires, KeyID: KeyID(pub)}
		if got != want {
			t.Fatalf("Verify = %+v, want %+v", got, want)
		}
		if len(got.KeyID) != 16 {
			t.Fatalf("KeyID %q is not 8 bytes of hex", got.KeyID)
		}
	}
}

func TestIssueRejects(t *testing.T) {
	_, priv := newKey(t)
	tests := []struct {
		name   string
		priv   ed25519.PrivateKey
		mutate func(*domain.License)
		msg    string
	}{
		{name: "empty org", priv: priv, mutate: func(l *domain.License) { l.OrgID = "" }, msg: "org is required"},
		{name: "unknown plan", priv: priv, mutate: func(l *domain.License) { l.Plan = "gold" }, msg: `plan "gold" is unknown`},
		{name: "no issue time", priv: priv, mutate: func(l *domain.License) { l.IssuedAt = time.Time{} }, msg: "issue time is required"},
		{name: "expiry equals issue", priv: priv, mutate: func(l *domain.License) { l.ExpiresAt = l.IssuedAt }, msg: "expiry must be after"},
		{name: "expiry within the same second", priv: priv, mutate: func(l *domain.License) { l.ExpiresAt = l.IssuedAt.Add(time.Millisecond) }, msg: "expiry must be after"},
		{name: "expiry before issue", priv: priv, mutate: func(l *domain.License) { l.ExpiresAt = l.IssuedAt.Add(-time.Hour) }, msg: "expiry must be after"},
		{name: "short key", priv: priv[:32], mutate: func(*domain.License) {}, msg: "64-byte Ed25519 private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := enterprise("org_1")
			tt.mutate(&l)
			token, err := Issue(tt.priv, l)
			if token != "" {
				t.Fatalf("Issue returned token %q with error %v", token, err)
			}
			wantCode(t, err, domain.CodeInvalidArgument, tt.msg)
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	pub, priv := newKey(t)
	otherPub, otherPriv := newKey(t)
	token := issue(t, priv, enterprise("org_1"))
	body, sig, _ := strings.Cut(strings.TrimPrefix(token, TokenPrefix), ".")

	// signed builds a correctly signed token around any payload bytes.
	signed := func(payload string) string {
		return TokenPrefix + b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(payload)))
	}
	kid := KeyID(pub)
	tamperedBody := b64.EncodeToString([]byte(strings.Replace(mustDecode(t, body), `"enterprise"`, `"standard"`, 1)))
	tamperedOrg := b64.EncodeToString([]byte(strings.Replace(mustDecode(t, body), `"org_1"`, `"org_2"`, 1)))
	sigBytes := []byte(mustDecode(t, sig))
	sigBytes[10] ^= 1

	tests := []struct {
		name     string
		verifier *Verifier
		token    string
		msg      string
	}{
		{name: "empty", verifier: NewVerifier(pub), token: "", msg: "no licence token"},
		{name: "wrong prefix", verifier: NewVerifier(pub), token: "parley-lic-v2." + body + "." + sig, msg: "does not start with"},
		{name: "no signature", verifier: NewVerifier(pub), token: TokenPrefix + body, msg: "separated by one dot"},
		{name: "extra part", verifier: NewVerifier(pub), token: token + ".x", msg: "separated by one dot"},
		{name: "truncated signature", verifier: NewVerifier(pub), token: TokenPrefix + body + "." + b64.EncodeToString(sigBytes[:60]), msg: "signature has 60 bytes"},
		{name: "truncated token", verifier: NewVerifier(pub), token: token[:len(token)-5], msg: "signature is not base64url"},
		{name: "truncated payload", verifier: NewVerifier(pub), token: TokenPrefix + body[:len(body)-5] + "." + sig, msg: "payload"},
		{name: "payload not base64", verifier: NewVerifier(pub), token: TokenPrefix + "!!!!" + "." + sig, msg: "payload is not base64url"},
		{name: "padded signature", verifier: NewVerifier(pub), token: token + "==", msg: "signature is not base64url"},
		{name: "tampered payload org", verifier: NewVerifier(pub), token: TokenPrefix + tamperedOrg + "." + sig, msg: "token altered"},
		{name: "tampered payload plan", verifier: NewVerifier(pub), token: TokenPrefix + tamperedBody + "." + sig, msg: "token altered"},
		{name: "tampered signature", verifier: NewVerifier(pub), token: TokenPrefix + body + "." + b64.EncodeToString(sigBytes), msg: "token altered"},
		{name: "wrong key", verifier: NewVerifier(otherPub), token: token, msg: "not signed by a trusted key"},
		{name: "no keys", verifier: NewVerifier(), token: token, msg: "no licence verification keys"},
		{name: "signed by other key claiming our kid", verifier: NewVerifier(pub), token: forge(otherPriv, `{"org":"org_1","plan":"enterprise","iat":1,"exp":2,"kid":"`+kid+`"}`), msg: "token altered"},
		{name: "unknown plan", verifier: NewVerifier(pub), token: signed(`{"org":"org_1","plan":"gold","iat":1,"exp":2,"kid":"` + kid + `"}`), msg: `plan "gold" is unknown`},
		{name: "no org", verifier: NewVerifier(pub), token: signed(`{"plan":"standard","iat":1,"exp":2,"kid":"` + kid + `"}`), msg: "names no org"},
		{name: "expires before issue", verifier: NewVerifier(pub), token: signed(`{"org":"o","plan":"standard","iat":2,"exp":2,"kid":"` + kid + `"}`), msg: "expires before"},
		{name: "payload not JSON", verifier: NewVerifier(pub), token: signed(`not json`), msg: "not licence JSON"},
		{name: "payload wrong types", verifier: NewVerifier(pub), token: signed(`{"org":1}`), msg: "not licence JSON"},
		{name: "trailing data", verifier: NewVerifier(pub), token: signed(`{"org":"o"} {}`), msg: "not licence JSON"},
		{name: "too long", verifier: NewVerifier(pub), token: TokenPrefix + strings.Repeat("a", 5000), msg: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.verifier.Verify(tt.token)
			if got != (domain.License{}) {
				t.Fatalf("Verify returned %+v with error %v", got, err)
			}
			wantCode(t, err, domain.CodeLicenseRequired, tt.msg)
		})
	}
}

func forge(priv ed25519.PrivateKey, payload string) string {
	return TokenPrefix + b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(payload)))
}

func mustDecode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKeyRotation(t *testing.T) {
	oldPub, oldPriv := newKey(t)
	newPub, newPriv := newKey(t)
	v := NewVerifier(newPub, oldPub)
	for name, tc := range map[string]struct {
		priv ed25519.PrivateKey
		pub  ed25519.PublicKey
	}{"old key": {oldPriv, oldPub}, "new key": {newPriv, newPub}} {
		got, err := v.Verify(issue(t, tc.priv, enterprise("org_1")))
		if err != nil {
			t.Fatalf("%s: Verify: %v", name, err)
		}
		if got.KeyID != KeyID(tc.pub) {
			t.Fatalf("%s: KeyID = %s, want %s", name, got.KeyID, KeyID(tc.pub))
		}
	}
	// A token whose kid names no configured key still verifies when one of
	// the keys signed it (kid is a hint, the signature decides).
	kid := KeyID(oldPub)
	token := forge(oldPriv, `{"org":"org_1","plan":"standard","iat":1,"exp":2,"kid":"0000000000000000"}`)
	if got, err := v.Verify(token); err != nil || got.KeyID != kid {
		t.Fatalf("Verify with stale kid = %+v, %v", got, err)
	}
}

func TestCheck(t *testing.T) {
	l := domain.License{OrgID: "org_1", Plan: domain.PlanStandard, IssuedAt: issued, ExpiresAt: expires}
	ent := l
	ent.Plan = domain.PlanEnterprise
	tests := []struct {
		name string
		lic  domain.License
		org  domain.OrgID
		now  time.Time
		need domain.Plan
		code string // "" when allowed
		msg  string
	}{
		{name: "standard for standard", lic: l, org: "org_1", now: issued, need: domain.PlanStandard},
		{name: "enterprise for standard", lic: ent, org: "org_1", now: issued, need: domain.PlanStandard},
		{name: "enterprise for enterprise", lic: ent, org: "org_1", now: expires.Add(-time.Nanosecond), need: domain.PlanEnterprise},
		{name: "standard for enterprise", lic: l, org: "org_1", now: issued, need: domain.PlanEnterprise, code: domain.CodeLicenseRequired, msg: "the enterprise plan is required"},
		{name: "wrong org", lic: ent, org: "org_2", now: issued, need: domain.PlanStandard, code: domain.CodeLicenseRequired, msg: "for org org_1, not org org_2"},
		{name: "no licence", lic: domain.License{}, org: "org_2", now: issued, need: domain.PlanEnterprise, code: domain.CodeLicenseRequired, msg: "has no licence"},
		{name: "expired exactly at exp", lic: ent, org: "org_1", now: expires, need: domain.PlanStandard, code: domain.CodeLicenseRequired, msg: "expired at 2027-03-01T12:00:00Z"},
		{name: "expired after exp", lic: ent, org: "org_1", now: expires.Add(time.Hour), need: domain.PlanStandard, code: domain.CodeLicenseRequired, msg: "expired"},
		{name: "unknown need", lic: ent, org: "org_1", now: issued, need: "gold", code: domain.CodeInvalidArgument, msg: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.lic, tt.org, tt.now, tt.need)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestKeyTextForms(t *testing.T) {
	pub, priv := newKey(t)
	pubText, privText := EncodePublicKey(pub), EncodePrivateKey(priv)
	if !strings.HasPrefix(pubText, PublicKeyPrefix) || !strings.HasPrefix(privText, PrivateKeyPrefix) {
		t.Fatalf("text forms %q, %q lack prefixes", pubText, privText)
	}
	gotPub, err := ParsePublicKey(" " + pubText + "\n")
	if err != nil || !gotPub.Equal(pub) {
		t.Fatalf("ParsePublicKey = %x, %v", gotPub, err)
	}
	gotPriv, err := ParsePrivateKey(privText)
	if err != nil || !gotPriv.Equal(priv) {
		t.Fatalf("ParsePrivateKey = %x, %v", gotPriv, err)
	}
	otherPub, _ := newKey(t)
	keys, err := ParsePublicKeys(pubText + ", " + EncodePublicKey(otherPub) + ",")
	if err != nil || len(keys) != 2 || !keys[0].Equal(pub) || !keys[1].Equal(otherPub) {
		t.Fatalf("ParsePublicKeys = %x, %v", keys, err)
	}
	if keys, err := ParsePublicKeys(""); err != nil || len(keys) != 0 {
		t.Fatalf(`ParsePublicKeys("") = %x, %v`, keys, err)
	}
}

func TestKeyTextFormErrors(t *testing.T) {
	pub, priv := newKey(t)
	pubText, privText := EncodePublicKey(pub), EncodePrivateKey(priv)
	tests := []struct {
		name  string
		parse func(string) error
		in    string
		msg   string
	}{
		{name: "public no prefix", parse: parsePub, in: strings.TrimPrefix(pubText, PublicKeyPrefix), msg: `must start with "parley-pub-"`},
		{name: "public given private", parse: parsePub, in: privText, msg: `must start with "parley-pub-"`},
		{name: "public bad base64", parse: parsePub, in: PublicKeyPrefix + "@@@", msg: "not base64url"},
		{name: "public padded", parse: parsePub, in: pubText + "=", msg: "not base64url"},
		{name: "public short", parse: parsePub, in: PublicKeyPrefix + b64.EncodeToString(pub[:26]), msg: "has 26 bytes, want 32"},
		{name: "public empty", parse: parsePub, in: PublicKeyPrefix, msg: "has 0 bytes"},
		{name: "private given public", parse: parsePriv, in: pubText, msg: `must start with "parley-priv-"`},
		{name: "private long", parse: parsePriv, in: PrivateKeyPrefix + b64.EncodeToString(priv), msg: "has 64 bytes, want 32"},
		{name: "list with bad entry", parse: parseList, in: pubText + ",parley-pub-xyz", msg: "public key 2 of the list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.parse(tt.in), domain.CodeInvalidArgument, tt.msg)
		})
	}
}

func parsePub(s string) error  { _, err := ParsePublicKey(s); return err }
func parsePriv(s string) error { _, err := ParsePrivateKey(s); return err }
func parseList(s string) error { _, err := ParsePublicKeys(s); return err }
