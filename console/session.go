package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

const (
	// sessionCookie carries the console session token.
	sessionCookie = "parley_console"
	// signInCookie carries the sign-in form's CSRF token (double submit),
	// so a sign-in cannot be forged from another site either.
	signInCookie = "parley_console_signin"
	// maxFormBytes bounds a form body.
	maxFormBytes = 64 << 10
)

// secure reports whether the request came over TLS (directly or through a
// proxy saying so), so cookies get the Secure attribute.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// cookie returns a console cookie: HttpOnly, SameSite=Strict, Secure when
// the request came over TLS.
func cookie(r *http.Request, name, value, path string, expires time.Time) *http.Cookie {
	ck := &http.Cookie{
		Name: name, Value: value, Path: path, HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode, Expires: expires,
	}
	if expires.IsZero() {
		ck.MaxAge = -1
		ck.Expires = time.Unix(1, 0)
	}
	return ck
}

type signInView struct {
	CSRF, Next, Error string
	SignedOut         bool
	// Lifetime says how long a session lasts ("12 hours").
	Lifetime string
}

// signInPage shows the sign-in form with a fresh sign-in token.
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request, _ *operator) error {
	if _, err := c.authenticate(r); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusFound)
		return nil
	}
	return c.renderSignIn(w, r, http.StatusOK, signInView{
		Next: safeNext(r.URL.Query().Get("next")), SignedOut: r.URL.Query().Has("signed-out"),
	})
}

func (c *Console) renderSignIn(w http.ResponseWriter, r *http.Request, status int, v signInView) error {
	token, err := randomToken()
	if err != nil {
		return err
	}
	http.SetCookie(w, cookie(r, signInCookie, token, "/console/sign-in", time.Now().Add(time.Hour)))
	v.CSRF, v.Lifetime = token, lifetime(c.ttl)
	return c.render(w, r, status, "signin", page{Title: "Sign in", Data: v})
}

// signIn checks the API key and opens a session.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request, _ *operator) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return domain.Errorf(domain.CodeInvalidArgument, "unreadable form")
	}
	next := safeNext(r.PostFormValue("next"))
	ck, err := r.Cookie(signInCookie)
	if err != nil || !sameToken(ck.Value, r.PostFormValue("csrf")) || sameOriginError(r) != nil {
		return c.renderSignIn(w, r, http.StatusForbidden, signInView{Next: next,
			Error: "The sign-in form expired or came from another site. Try again."})
	}
	in, err := c.svc.SignInConsole(r.Context(), strings.TrimSpace(r.PostFormValue("key")), c.ttl)
	switch domain.ErrorCode(err) {
	case "":
	case domain.CodeUnauthorized:
		return c.renderSignIn(w, r, http.StatusUnauthorized, signInView{Next: next,
			Error: "That API key is unknown or revoked. Paste a key that starts with pk_."})
	case domain.CodeForbidden:
		return c.renderSignIn(w, r, http.StatusForbidden, signInView{Next: next,
			Error: "That is a runtime key, for bots. The console needs an admin key: parley key create --org <org id> --scope admin."})
	default:
		return err
	}
	http.SetCookie(w, cookie(r, signInCookie, "", "/console/sign-in", time.Time{}))
	http.SetCookie(w, cookie(r, sessionCookie, in.Token, "/console", in.Session.ExpiresAt))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// signOut ends the session in the store and clears the cookie.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, _ *operator) error {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := c.svc.SignOutConsole(r.Context(), ck.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, cookie(r, sessionCookie, "", "/console", time.Time{}))
	http.Redirect(w, r, "/console/sign-in?signed-out", http.StatusSeeOther)
	return nil
}

// needSignIn answers a request without a valid session: pages redirect to
// the sign-in form (and back after it), streams get 401.
func (c *Console) needSignIn(w http.ResponseWriter, r *http.Request, err error) {
	if domain.ErrorCode(err) != domain.CodeUnauthorized {
		c.fail(w, r, nil, err)
		return
	}
	if _, cerr := r.Cookie(sessionCookie); cerr == nil {
		http.SetCookie(w, cookie(r, sessionCookie, "", "/console", time.Time{}))
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") || strings.HasSuffix(r.URL.Path, "/live") {
		http.Error(w, "not signed in", http.StatusUnauthorized)
		return
	}
	next := "/console/"
	if r.Method == http.MethodGet {
		next = r.URL.RequestURI()
	}
	http.Redirect(w, r, "/console/sign-in?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// checkForm parses a state-changing form and checks its CSRF token and
// origin. Errors: forbidden, invalid_argument.
func checkForm(r *http.Request, want string) error {
	if err := r.ParseForm(); err != nil {
		return domain.Errorf(domain.CodeInvalidArgument, "unreadable form")
	}
	if err := sameOriginError(r); err != nil {
		return err
	}
	if !sameToken(want, r.PostFormValue("csrf")) {
		return domain.Errorf(domain.CodeForbidden, "this form's security token is missing or out of date: reload the page and try again")
	}
	return nil
}

// sameOriginError refuses a POST whose Origin header names another site.
func sameOriginError(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return domain.Errorf(domain.CodeForbidden, "this form was sent from another site")
	}
	return nil
}

func sameToken(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// safeNext returns where to go after signing in: a console path, never
// another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/console/"
	}
	return next
}

func randomToken() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// lifetime says a session lifetime in words: "12 hours", "45m0s".
func lifetime(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "1 hour"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	}
	return d.String()
}
