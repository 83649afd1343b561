// Package identifier turns user input into canonical Customer Identifiers.
//
// Plain text is opaque: it is trimmed, NFC-normalized and then compared
// exactly. A scheme prefix (matched case-insensitively, written lowercase in
// the result) asks for normalization:
//
//	tel:       E.164, e.g. "tel:+1 (555) 010-0000" -> "tel:+15550100000"
//	mailto:    lowercased bare address, e.g. "mailto:ann@example.com"
//	whatsapp:  digits only, 6 to 15 of them
//	ext:       opaque text after the prefix
//
// Unknown schemes ("foo:bar") are plain text.
package identifier

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/unicode/norm"

	"github.com/parleyhq/parley/domain"
)

// MaxLength is the maximum length of an identifier in characters (runes),
// both as given (without surrounding white space) and once normalized.
const MaxLength = 256

// Scheme prefixes that ask for normalization.
const (
	SchemeTel      = "tel:"
	SchemeMailto   = "mailto:"
	SchemeWhatsApp = "whatsapp:"
	SchemeExt      = "ext:"
)

// WhatsApp numbers have between these many digits.
const (
	minWhatsAppDigits = 6
	maxWhatsAppDigits = 15
)

// stableRounds bounds the passes spent reaching a fixed point when a
// normalization step (NFC, lowercasing, phone parsing) is not idempotent
// on its own.
const stableRounds = 4

// Normalizer implements domain.IdentifierNormalizer with Normalize.
type Normalizer struct{}

// Normalize returns the canonical form of input; see the package function.
func (Normalizer) Normalize(input string) (string, error) { return Normalize(input) }

var _ domain.IdentifierNormalizer = Normalizer{}

// Normalize returns the canonical form of s, or an error with code
// domain.CodeIdentifierInvalid when s is not valid UTF-8, contains a
// control character, is empty after trimming, is longer than MaxLength
// characters, or does not satisfy the rules of its scheme. Normalize is
// idempotent: Normalize(Normalize(s)) == Normalize(s).
func Normalize(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", invalid("identifier is not valid UTF-8")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", invalid("identifier contains a control character")
	}
	s = strings.TrimSpace(s)
	if err := checkLength(s); err != nil {
		return "", err
	}
	s = clean(s)
	if err := checkLength(s); err != nil {
		return "", err
	}
	out, err := normalizeScheme(s)
	if err != nil {
		return "", err
	}
	out = clean(out)
	if err := checkLength(out); err != nil {
		return "", err
	}
	return out, nil
}

// normalizeScheme applies the rules of s's scheme, if it has a known one.
func normalizeScheme(s string) (string, error) {
	switch scheme, rest := splitScheme(s); scheme {
	case SchemeTel:
		return normalizeTel(rest)
	case SchemeMailto:
		return normalizeMailto(rest)
	case SchemeWhatsApp:
		return normalizeWhatsApp(rest)
	case SchemeExt:
		if rest == "" {
			return "", invalid("ext: identifier has nothing after the prefix")
		}
		return SchemeExt + rest, nil
	default:
		return s, nil
	}
}

// splitScheme returns the known scheme prefix of s (lowercase) and the rest
// of s trimmed, or "" and s when s has no known scheme. Only ASCII letters
// are case-folded, so look-alike characters never select a scheme.
func splitScheme(s string) (scheme, rest string) {
	for _, p := range []string{SchemeTel, SchemeMailto, SchemeWhatsApp, SchemeExt} {
		if len(s) >= len(p) && asciiEqualFold(s[:len(p)], p) {
			return p, strings.TrimSpace(s[len(p):])
		}
	}
	return "", s
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if asciiLower(a[i]) != asciiLower(b[i]) {
			return false
		}
	}
	return true
}

func asciiLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// normalizeTel returns "tel:" and the E.164 form of an international
// number; the number must be possible (right length for its country), not
// necessarily assigned, so fictional numbers such as +1 555 010 0000 work.
func normalizeTel(number string) (string, error) {
	digits := stripSeparators(number, isPhoneSeparator)
	if digits == "" {
		return "", invalid("tel: identifier has no number")
	}
	if digits[0] != '+' {
		return "", invalid("tel: identifier must be an international number starting with +")
	}
	if !isASCIIDigits(digits[1:]) {
		return "", invalid("tel: identifier may contain only digits after the +")
	}
	// Parsing an E.164 number may strip a national prefix again, so parse
	// until the result stops changing.
	e164 := digits
	for range stableRounds {
		next, err := toE164(e164)
		if err != nil {
			return "", err
		}
		if next == e164 {
			return SchemeTel + e164, nil
		}
		e164 = next
	}
	return "", invalid("tel: identifier has no stable E.164 form")
}

// toE164 parses an international number made of "+" and digits.
func toE164(number string) (string, error) {
	parsed, err := phonenumbers.Parse(number, "ZZ")
	if err != nil {
		return "", invalid("tel: identifier is not a phone number")
	}
	if !phonenumbers.IsPossibleNumber(parsed) {
		return "", invalid("tel: identifier is not a possible phone number")
	}
	return phonenumbers.Format(parsed, phonenumbers.E164), nil
}

// normalizeMailto lowercases address and accepts it only as a bare
// addr-spec (local@domain): no display name, angle brackets or comments.
func normalizeMailto(address string) (string, error) {
	if address == "" {
		return "", invalid("mailto: identifier has no address")
	}
	// Lowercasing can break NFC and NFC can (in theory) reveal more to
	// lowercase: repeat until stable.
	for range stableRounds {
		next := norm.NFC.String(strings.ToLower(address))
		if next == address {
			break
		}
		address = next
	}
	parsed, err := mail.ParseAddress(address)
	if err != nil || parsed.Name != "" || parsed.Address != address {
		return "", invalid("mailto: identifier is not a bare e-mail address (local@domain)")
	}
	return SchemeMailto + address, nil
}

// normalizeWhatsApp returns "whatsapp:" and the digits of number.
func normalizeWhatsApp(number string) (string, error) {
	digits := stripSeparators(number, func(r rune) bool { return r == '+' || isPhoneSeparator(r) })
	if digits == "" {
		return "", invalid("whatsapp: identifier has no number")
	}
	if !isASCIIDigits(digits) {
		return "", invalid("whatsapp: identifier may contain only digits")
	}
	if n := len(digits); n < minWhatsAppDigits || n > maxWhatsAppDigits {
		return "", invalid("whatsapp: identifier must have 6 to 15 digits")
	}
	return SchemeWhatsApp + digits, nil
}

// isPhoneSeparator reports whether r is a visual separator in a phone
// number: white space, a dash, a dot or a parenthesis.
func isPhoneSeparator(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || r == '.' || r == '(' || r == ')'
}

func stripSeparators(s string, isSeparator func(rune) bool) string {
	return strings.Map(func(r rune) rune {
		if isSeparator(r) {
			return -1
		}
		return r
	}, s)
}

func isASCIIDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clean NFC-normalizes s and trims surrounding white space until neither
// changes it (NFC may turn a character into white space and back).
func clean(s string) string {
	for range stableRounds {
		next := strings.TrimSpace(norm.NFC.String(s))
		if next == s {
			break
		}
		s = next
	}
	return s
}

func checkLength(s string) error {
	if s == "" {
		return invalid("identifier is empty")
	}
	if utf8.RuneCountInString(s) > MaxLength {
		return invalid("identifier is longer than 256 characters")
	}
	return nil
}

func invalid(msg string) error {
	return &domain.Error{Code: domain.CodeIdentifierInvalid, Message: msg}
}
