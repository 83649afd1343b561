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
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/unicode/norm"

	"github.com/parleyhq/parley/domain"
)

// MaxLength is the maximum length of an identifier in characters (runes),
// counted once it is normalized (trimmed and NFC).
const MaxLength = 256

// maxInputRunes bounds the input before normalization, so that absurd
// inputs are refused without the work of NFC. NFC composes at most 4 code
// points into one character (U+1F82 is U+03B1 U+0313 U+0300 U+0345), so
// an input of more code points is longer than MaxLength once normalized:
// this bound never refuses an input that normalization would accept.
const maxInputRunes = 4 * MaxLength

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

// maxLabelRunes bounds one label of a mailto: domain (DNS allows 63 bytes).
const maxLabelRunes = 63

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
// control character or an invisible format character (Unicode category
// Cf: zero-width spaces and joiners, bidirectional marks and overrides,
// the byte order mark), is empty after trimming, is longer than MaxLength
// characters once NFC-normalized, or does not satisfy the rules of its
// scheme. Normalize is idempotent: Normalize(Normalize(s)) == Normalize(s).
func Normalize(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", invalid("identifier is not valid UTF-8")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", invalid("identifier contains a control character")
	}
	if i := strings.IndexFunc(s, isFormat); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return "", invalid(fmt.Sprintf("identifier contains the invisible format character %U", r))
	}
	if utf8.RuneCountInString(s) > maxInputRunes {
		return "", invalid("identifier is longer than 256 characters")
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
	// A mailto: URI may carry a query (?subject=...) or several addresses;
	// an identifier is one mailbox, named one way only.
	if strings.ContainsRune(address, '?') {
		return "", invalid("mailto: identifier has a query (?...); give the bare e-mail address only")
	}
	parsed, err := mail.ParseAddress(address)
	if err != nil || parsed.Name != "" || parsed.Address != address {
		return "", invalid("mailto: identifier is not a bare e-mail address (local@domain)")
	}
	at := strings.LastIndexByte(address, '@')
	if !validMailDomain(address[at+1:]) {
		return "", invalid("mailto: identifier's domain is not a host name or an address literal such as [192.0.2.1]")
	}
	return SchemeMailto + address, nil
}

// validMailDomain reports whether domain is a host name (dot-separated
// labels of letters, digits and inner hyphens, internationalized letters
// included) or an address literal in brackets. RFC 5322 alone would also
// accept characters such as = & ! in a domain.
func validMailDomain(domain string) bool {
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		_, err := netip.ParseAddr(domain[1 : len(domain)-1])
		return err == nil
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" || utf8.RuneCountInString(label) > maxLabelRunes ||
			strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.M, r) && r != '-' {
				return false
			}
		}
	}
	return true
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

// isFormat reports whether r is an invisible format character (Unicode
// category Cf), which would let two identifiers look the same.
func isFormat(r rune) bool { return unicode.Is(unicode.Cf, r) }

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
