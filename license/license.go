// Package license issues and verifies Parley licence tokens offline.
//
// A token is
//
//	parley-lic-v1.<base64url(payload JSON)>.<base64url(Ed25519 signature)>
//
// where the signature covers the exact payload bytes and the payload is
// {"org", "plan", "iat", "exp", "kid"} (times in unix seconds, kid the
// KeyID of the signing key). Keys have text forms for flags, environment
// variables and files: "parley-pub-..." and "parley-priv-..." (the 32-byte
// seed), both base64url without padding.
package license

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

// Text prefixes of tokens and keys.
const (
	TokenPrefix      = "parley-lic-v1."
	PublicKeyPrefix  = "parley-pub-"
	PrivateKeyPrefix = "parley-priv-"
)

// maxTokenLength bounds the work Verify does on hostile input; real tokens
// are about 250 bytes.
const maxTokenLength = 4096

// b64 is base64url without padding, rejecting non-canonical encodings so a
// token has exactly one text form.
var b64 = base64.RawURLEncoding.Strict()

type payload struct {
	Org  string `json:"org"`
	Plan string `json:"plan"`
	IAT  int64  `json:"iat"`
	EXP  int64  `json:"exp"`
	KID  string `json:"kid"`
}

// GenerateKey returns a new Ed25519 key pair for signing licences.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// KeyID returns the id of a public key: the first 8 bytes of its SHA-256,
// in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Issue signs a licence for l.OrgID, l.Plan, l.IssuedAt and l.ExpiresAt
// (kept to whole seconds); l.KeyID is ignored and set from priv. It
// returns CodeInvalidArgument for a malformed key, an empty org, an unknown
// plan, a zero issue time or an expiry not after the issue time.
func Issue(priv ed25519.PrivateKey, l domain.License) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", domain.Errorf(domain.CodeInvalidArgument, "licence signing key must be a %d-byte Ed25519 private key", ed25519.PrivateKeySize)
	}
	if l.OrgID == "" {
		return "", domain.Errorf(domain.CodeInvalidArgument, "licence org is required")
	}
	if !validPlan(l.Plan) {
		return "", domain.Errorf(domain.CodeInvalidArgument, "licence plan %q is unknown (want standard or enterprise)", l.Plan)
	}
	if l.IssuedAt.IsZero() {
		return "", domain.Errorf(domain.CodeInvalidArgument, "licence issue time is required")
	}
	p := payload{
		Org:  string(l.OrgID),
		Plan: string(l.Plan),
		IAT:  l.IssuedAt.Unix(),
		EXP:  l.ExpiresAt.Unix(),
		KID:  KeyID(priv.Public().(ed25519.PublicKey)),
	}
	if p.EXP <= p.IAT {
		return "", domain.Errorf(domain.CodeInvalidArgument, "licence expiry must be after its issue time (in whole seconds)")
	}
	body, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return TokenPrefix + b64.EncodeToString(body) + "." + b64.EncodeToString(ed25519.Sign(priv, body)), nil
}

// Verifier checks licence tokens against a set of trusted public keys.
// It implements domain.LicenseVerifier and is safe for concurrent use.
type Verifier struct {
	keys []ed25519.PublicKey
}

var _ domain.LicenseVerifier = (*Verifier)(nil)

// NewVerifier returns a Verifier trusting keys. Several keys allow key
// rotation: a token signed by any of them verifies.
func NewVerifier(keys ...ed25519.PublicKey) *Verifier {
	return &Verifier{keys: append([]ed25519.PublicKey(nil), keys...)}
}

// Verify checks the format and signature of token and returns its content.
// It does not check expiry, org or plan level (see Check). Errors have
// CodeLicenseRequired and say whether the token is malformed, altered,
// signed by an unknown key or names an unknown plan.
func (v *Verifier) Verify(token string) (domain.License, error) {
	body, sig, err := split(token)
	if err != nil {
		return domain.License{}, err
	}
	var p payload
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil || dec.More() {
		return domain.License{}, required("licence token payload is not licence JSON")
	}
	key, err := v.signer(p.KID, body, sig)
	if err != nil {
		return domain.License{}, err
	}
	switch {
	case !validPlan(domain.Plan(p.Plan)):
		return domain.License{}, required("licence plan %q is unknown", p.Plan)
	case p.Org == "":
		return domain.License{}, required("licence names no org")
	case p.EXP <= p.IAT:
		return domain.License{}, required("licence expires before it was issued")
	}
	return domain.License{
		OrgID:     domain.OrgID(p.Org),
		Plan:      domain.Plan(p.Plan),
		IssuedAt:  time.Unix(p.IAT, 0).UTC(),
		ExpiresAt: time.Unix(p.EXP, 0).UTC(),
		KeyID:     KeyID(key),
	}, nil
}

// split decodes the payload and signature parts of token.
func split(token string) (body, sig []byte, err error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, nil, required("no licence token")
	}
	if len(token) > maxTokenLength {
		return nil, nil, required("licence token is longer than %d bytes", maxTokenLength)
	}
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok {
		return nil, nil, required("licence token does not start with %q", TokenPrefix)
	}
	bodyText, sigText, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sigText, ".") {
		return nil, nil, required("licence token must have a payload and a signature separated by one dot")
	}
	if body, err = b64.DecodeString(bodyText); err != nil || len(body) == 0 {
		return nil, nil, required("licence token payload is not base64url")
	}
	if sig, err = b64.DecodeString(sigText); err != nil {
		return nil, nil, required("licence token signature is not base64url")
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, nil, required("licence token signature has %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return body, sig, nil
}

// signer returns the trusted key whose signature over body is sig, trying
// the key named by kid first.
func (v *Verifier) signer(kid string, body, sig []byte) (ed25519.PublicKey, error) {
	if len(v.keys) == 0 {
		return nil, required("no licence verification keys are configured")
	}
	known := false
	for _, k := range v.keys {
		if KeyID(k) == kid {
			known = true
			if ed25519.Verify(k, body, sig) {
				return k, nil
			}
		}
	}
	for _, k := range v.keys {
		if KeyID(k) != kid && ed25519.Verify(k, body, sig) {
			return k, nil
		}
	}
	if known {
		return nil, required("licence signature does not match its content (token altered)")
	}
	return nil, required("licence was not signed by a trusted key (kid %q)", kid)
}

// Check returns nil when l is a licence for org, not expired at now
// (expired from ExpiresAt on) and of plan need or higher (enterprise
// includes standard). Otherwise it returns CodeLicenseRequired with a
// message saying which, or CodeInvalidArgument for an unknown need.
func Check(l domain.License, org domain.OrgID, now time.Time, need domain.Plan) error {
	if !validPlan(need) {
		return domain.Errorf(domain.CodeInvalidArgument, "required plan %q is unknown", need)
	}
	switch {
	case l.OrgID == "":
		return required("org %s has no licence; a %s licence is required", org, need)
	case l.OrgID != org:
		return required("licence is for org %s, not org %s", l.OrgID, org)
	case !now.Before(l.ExpiresAt):
		return required("licence expired at %s", l.ExpiresAt.UTC().Format(time.RFC3339))
	case planRank(l.Plan) < planRank(need):
		return required("licence plan %s does not include this feature; the %s plan is required", l.Plan, need)
	}
	return nil
}

func validPlan(p domain.Plan) bool { return planRank(p) > 0 }

// planRank orders plans; 0 for an unknown plan.
func planRank(p domain.Plan) int {
	switch p {
	case domain.PlanStandard:
		return 1
	case domain.PlanEnterprise:
		return 2
	}
	return 0
}

func required(format string, args ...any) error {
	return domain.Errorf(domain.CodeLicenseRequired, format, args...)
}

// EncodePublicKey returns the text form of pub: "parley-pub-" + base64url.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + b64.EncodeToString(pub)
}

// ParsePublicKey parses the text form made by EncodePublicKey (surrounding
// white space ignored). Errors have CodeInvalidArgument.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := parseKeyText(s, PublicKeyPrefix, "public", ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(raw), nil
}

// ParsePublicKeys parses a comma-separated list of public keys (the form of
// an environment variable); empty entries are skipped, so "" gives no keys.
// Errors have CodeInvalidArgument and name the bad entry's position.
func ParsePublicKeys(list string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for i, item := range strings.Split(list, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, err := ParsePublicKey(item)
		if err != nil {
			return nil, domain.Errorf(domain.CodeInvalidArgument, "public key %d of the list: %s", i+1, domain.ErrorMessage(err))
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// EncodePrivateKey returns the text form of priv: "parley-priv-" +
// base64url of its 32-byte seed. Keep it secret.
func EncodePrivateKey(priv ed25519.PrivateKey) string {
	return PrivateKeyPrefix + b64.EncodeToString(priv.Seed())
}

// ParsePrivateKey parses the text form made by EncodePrivateKey
// (surrounding white space ignored). Errors have CodeInvalidArgument.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	seed, err := parseKeyText(s, PrivateKeyPrefix, "private", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func parseKeyText(s, prefix, kind string, size int) ([]byte, error) {
	text, ok := strings.CutPrefix(strings.TrimSpace(s), prefix)
	if !ok {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "%s key must start with %q", kind, prefix)
	}
	raw, err := b64.DecodeString(text)
	if err != nil {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "%s key is not base64url after %q", kind, prefix)
	}
	if len(raw) != size {
		return nil, domain.Errorf(domain.CodeInvalidArgument, "%s key has %d bytes, want %d", kind, len(raw), size)
	}
	return raw, nil
}
