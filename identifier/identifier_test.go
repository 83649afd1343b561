package identifier

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/parleyhq/parley/domain"
)

func TestNormalize(t *testing.T) {
	const (
		composed   = "Jos\u00e9"  // é as one code point
		decomposed = "Jose\u0301" // e + combining acute accent
	)
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string // substring of the error message; "" when valid
	}{
		// Plain text.
		{name: "plain text kept", in: "customer-42", want: "customer-42"},
		{name: "plain text case preserved", in: "Ann.Smith", want: "Ann.Smith"},
		{name: "plain text trimmed", in: "  abc \u00a0\u3000", want: "abc"},
		{name: "inner spaces kept", in: "a  b", want: "a  b"},
		{name: "NFC composed", in: composed, want: composed},
		{name: "NFC decomposed equals composed", in: decomposed, want: composed},
		{name: "unknown scheme is plain text", in: "Foo:Bar", want: "Foo:Bar"},
		{name: "scheme word without colon is plain", in: "tel 12345", want: "tel 12345"},
		{name: "look-alike scheme is plain", in: "\u0074\u0435l:+15550100000", want: "\u0074\u0435l:+15550100000"},
		{name: "256 runes", in: strings.Repeat("é", 256), want: strings.Repeat("é", 256)},
		{name: "257 runes", in: strings.Repeat("é", 257), wantErr: "longer than 256"},
		{name: "256 runes decomposed", in: strings.Repeat(decomposed[3:], 128), want: strings.Repeat("é", 128)},
		{name: "surrounding space does not count", in: "  " + strings.Repeat("x", 256) + "  ", want: strings.Repeat("x", 256)},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "white space only", in: " \u00a0\u2003 ", wantErr: "empty"},
		{name: "control char inside", in: "ab\x00cd", wantErr: "control character"},
		{name: "newline at end", in: "abc\n", wantErr: "control character"},
		{name: "tab inside", in: "a\tb", wantErr: "control character"},
		{name: "C1 control", in: "a\u0085b", wantErr: "control character"},
		{name: "invalid UTF-8", in: "ab\xffcd", wantErr: "UTF-8"},
		// Length is counted after NFC: 399 code points, 200 characters.
		{name: "length after NFC", in: strings.Repeat(decomposed[3:], 199) + "d", want: strings.Repeat("é", 199) + "d"},
		{name: "256 characters from 512 code points", in: strings.Repeat(decomposed[3:], 256), want: strings.Repeat("é", 256)},
		{name: "257 characters decomposed", in: strings.Repeat(decomposed[3:], 257), wantErr: "longer than 256"},
		{name: "4 code points per character", in: strings.Repeat("\u03b1\u0313\u0300\u0345", 256), want: strings.Repeat("\u1f82", 256)},
		{name: "over 4 code points per character", in: strings.Repeat("x", 1025), wantErr: "longer than 256"},
		// Invisible format characters (category Cf), in every scheme.
		{name: "zero width space", in: "ann\u200bsmith", wantErr: "U+200B"},
		{name: "right-to-left override", in: "\u202eann", wantErr: "U+202E"},
		{name: "byte order mark", in: "\ufeffann", wantErr: "U+FEFF"},
		{name: "zero width joiner", in: "a\u200db", wantErr: "U+200D"},
		{name: "soft hyphen", in: "ann\u00adsmith", wantErr: "U+00AD"},
		{name: "format character in tel", in: "tel:+1 555\u200b010 0000", wantErr: "format character"},
		{name: "format character in mailto", in: "mailto:ann\u2060@example.com", wantErr: "format character"},
		{name: "format character in whatsapp", in: "whatsapp:1555\u200e0100000", wantErr: "format character"},
		{name: "format character in ext", in: "ext:crm\u200c42", wantErr: "format character"},

		// tel:
		{name: "tel E.164", in: "tel:+15550100000", want: "tel:+15550100000"},
		{name: "tel with separators", in: "tel:+1 (555) 010-0000", want: "tel:+15550100000"},
		{name: "tel dots and upper scheme", in: "TEL:+1.555.010.0000", want: "tel:+15550100000"},
		{name: "tel space after scheme", in: "Tel: +44 20 7946 0958", want: "tel:+442079460958"},
		{name: "tel national prefix dropped", in: "tel:+44 (0)20 7946 0958", want: "tel:+442079460958"},
		// One parse strips one national prefix 0 (+440207946095); parsing
		// that strips another, so Normalize parses until stable.
		{name: "tel repeated national prefix stable", in: "tel:+4400207946095", want: "tel:+44207946095"},
		{name: "tel non-breaking space and en dash", in: "tel:+1\u00a0555\u2013010\u20130000", want: "tel:+15550100000"},
		{name: "tel without plus", in: "tel:5550100000", wantErr: "international number"},
		{name: "tel letters", in: "tel:+1 800 FLOWERS", wantErr: "only digits"},
		{name: "tel extension", in: "tel:+15550100000;ext=12", wantErr: "only digits"},
		{name: "tel too short", in: "tel:+1555", wantErr: "not a possible phone number"},
		{name: "tel too long", in: "tel:+1555010000012345", wantErr: "tel:"},
		{name: "tel unknown country code", in: "tel:+999123456789", wantErr: "tel:"},
		{name: "tel plus only", in: "tel:+", wantErr: "only digits"},
		{name: "tel empty", in: "tel:", wantErr: "no number"},
		{name: "tel second plus", in: "tel:+1+5550100000", wantErr: "only digits"},

		// mailto:
		{name: "mailto lowercased", in: "mailto:Ann@Example.COM", want: "mailto:ann@example.com"},
		{name: "mailto upper scheme", in: "MAILTO:bob@example.org", want: "mailto:bob@example.org"},
		{name: "mailto space after scheme", in: "mailto: bob@example.org ", want: "mailto:bob@example.org"},
		{name: "mailto plus tag", in: "mailto:ann+bots@example.com", want: "mailto:ann+bots@example.com"},
		{name: "mailto unicode", in: "mailto:JOSÉ@example.com", want: "mailto:josé@example.com"},
		{name: "mailto display name", in: "mailto:Ann <ann@example.com>", wantErr: "bare e-mail address"},
		{name: "mailto angle brackets", in: "mailto:<ann@example.com>", wantErr: "bare e-mail address"},
		{name: "mailto no at", in: "mailto:ann.example.com", wantErr: "bare e-mail address"},
		{name: "mailto no domain", in: "mailto:ann@", wantErr: "bare e-mail address"},
		{name: "mailto quoted local part", in: `mailto:"a b"@example.com`, wantErr: "bare e-mail address"},
		{name: "mailto empty", in: "mailto:", wantErr: "no address"},
		{name: "mailto query", in: "mailto:ann@example.com?subject=hello", wantErr: "query"},
		{name: "mailto empty query", in: "mailto:ann@example.com?", wantErr: "query"},
		{name: "mailto two addresses", in: "mailto:ann@example.com,bob@example.com", wantErr: "bare e-mail address"},
		{name: "mailto two addresses with space", in: "mailto:ann@example.com bob@example.com", wantErr: "bare e-mail address"},
		{name: "mailto domain with equals", in: "mailto:ann@example.com=x", wantErr: "domain"},
		{name: "mailto domain empty label", in: "mailto:ann@example..com", wantErr: "bare e-mail address"},
		{name: "mailto domain leading hyphen", in: "mailto:ann@-example.com", wantErr: "domain"},
		{name: "mailto address literal", in: "mailto:ann@[192.0.2.1]", want: "mailto:ann@[192.0.2.1]"},
		{name: "mailto bad address literal", in: "mailto:ann@[example]", wantErr: "mailto:"},
		{name: "mailto single label domain", in: "mailto:root@localhost", want: "mailto:root@localhost"},
		{name: "mailto internationalized domain", in: "mailto:ann@BÜCHER.example", want: "mailto:ann@bücher.example"},

		// whatsapp:
		{name: "whatsapp digits", in: "whatsapp:+1 (555) 010-0000", want: "whatsapp:15550100000"},
		{name: "whatsapp upper scheme", in: "WhatsApp:447946095800", want: "whatsapp:447946095800"},
		{name: "whatsapp 6 digits", in: "whatsapp:123456", want: "whatsapp:123456"},
		{name: "whatsapp 15 digits", in: "whatsapp:123456789012345", want: "whatsapp:123456789012345"},
		{name: "whatsapp 5 digits", in: "whatsapp:12345", wantErr: "6 to 15 digits"},
		{name: "whatsapp 16 digits", in: "whatsapp:1234567890123456", wantErr: "6 to 15 digits"},
		{name: "whatsapp letters", in: "whatsapp:+1 555 CALL", wantErr: "only digits"},
		{name: "whatsapp empty", in: "whatsapp: + ", wantErr: "no number"},

		// ext:
		{name: "ext opaque", in: "ext:CRM-42/Ann", want: "ext:CRM-42/Ann"},
		{name: "ext upper scheme trimmed", in: "EXT:  abc ", want: "ext:abc"},
		{name: "ext empty", in: "ext:   ", wantErr: "nothing after the prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.wantErr != "" {
				var de *domain.Error
				if !errors.As(err, &de) || de.Code != domain.CodeIdentifierInvalid {
					t.Fatalf("Normalize(%q) = %q, %v; want %s error", tt.in, got, err, domain.CodeIdentifierInvalid)
				}
				if !strings.Contains(de.Message, tt.wantErr) {
					t.Fatalf("Normalize(%q) error %q does not mention %q", tt.in, de.Message, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if again, err := Normalize(got); err != nil || again != got {
				t.Fatalf("Normalize(%q) = %q, %v; not idempotent", got, again, err)
			}
		})
	}
}

func TestNormalizerImplementsInterface(t *testing.T) {
	var n domain.IdentifierNormalizer = Normalizer{}
	got, err := n.Normalize("tel:+1 (555) 010-0000")
	if err != nil || got != "tel:+15550100000" {
		t.Fatalf("Normalizer.Normalize = %q, %v", got, err)
	}
}

func FuzzNormalizeIdentifier(f *testing.F) {
	seeds := []string{
		"", " ", "customer-42", "Jose\u0301", "Jos\u00e9", "foo:bar", "a\x00b", "\xff",
		"tel:+1 (555) 010-0000", "tel:+15550100000", "TEL:+44 (0)20 7946 0958", "tel:+33 0 1 23 45 67 89",
		"tel:+39 06 1234 5678", "tel:+4400207946095", "tel:+54 9 11 1234 5678", "tel:+1555", "tel:+", "tel:5550100000",
		"mailto:Ann@Example.COM", "mailto:Ann <ann@example.com>", "mailto:JOSÉ@ÉXAMPLE.com", "mailto:\u0130@x.io",
		"whatsapp:+1 555 010 0000", "whatsapp:12345", "ext:  CRM/1 ", "EXT:", "\u2000x\u2001",
		strings.Repeat("é", 256), strings.Repeat("e\u0301", 200), "\u0958\u0958", "mailto:a@[127.0.0.1]",
		// Length after NFC, invisible format characters, mailto queries.
		strings.Repeat("e\u0301", 199) + "d", strings.Repeat("\u03b1\u0313\u0300\u0345", 257), strings.Repeat("x", 1025),
		"ann\u200bsmith", "\u202etel:+15550100000", "\ufeffmailto:ann@example.com", "ext:\u2066x\u2069", "a\u00adb",
		"mailto:ann@example.com?subject=hello", "mailto:ann@example.com,bob@example.com", "mailto:ann@ex=ample.com",
		"mailto:ann@BÜCHER.example", "mailto:a@[::1]",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Code != domain.CodeIdentifierInvalid || de.Message == "" {
				t.Fatalf("Normalize(%q) error %v is not a coded identifier_invalid error", in, err)
			}
			return
		}
		if !utf8.ValidString(out) || strings.IndexFunc(out, unicode.IsControl) >= 0 || strings.IndexFunc(out, func(r rune) bool { return unicode.Is(unicode.Cf, r) }) >= 0 {
			t.Fatalf("Normalize(%q) = %q contains invalid UTF-8, a control or a format character", in, out)
		}
		if strings.HasPrefix(out, SchemeMailto) && strings.ContainsAny(out, "?, ") {
			t.Fatalf("Normalize(%q) = %q is not one bare address", in, out)
		}
		if n := utf8.RuneCountInString(out); n == 0 || n > MaxLength {
			t.Fatalf("Normalize(%q) = %q has %d runes", in, out, n)
		}
		if out != strings.TrimSpace(out) || !norm.NFC.IsNormalString(out) {
			t.Fatalf("Normalize(%q) = %q is not trimmed NFC text", in, out)
		}
		again, err := Normalize(out)
		if err != nil || again != out {
			t.Fatalf("Normalize(%q) = %q but Normalize(%q) = %q, %v", in, out, out, again, err)
		}
	})
}
