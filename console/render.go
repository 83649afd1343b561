package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/parleyhq/parley/domain"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// pageNames are the templates/<name>.html pages, each rendered inside
// templates/layout.html with templates/parts.html.
var pageNames = []string{"signin", "error", "home", "search", "customer", "conversation", "runs", "apps", "app", "webhooks", "webhook", "identifier", "customers"}

// pages holds the parsed page templates.
type pages struct{ byName map[string]*template.Template }

// page is what every template gets: the layout's fields and the page's
// own data.
type page struct {
	Title string
	// Nav names the active navigation entry.
	Nav    string
	Op     *operator
	Notice string
	Data   any
}

// CSRF is the token state-changing forms carry.
func (p page) CSRF() string {
	if p.Op == nil {
		return ""
	}
	return p.Op.session.CSRFToken
}

// OrgName is the signed-in org's name.
func (p page) OrgName() string {
	if p.Op == nil {
		return ""
	}
	return p.Op.org.Name
}

func loadPages() *pages {
	ps := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t := template.Must(template.New(name).Funcs(templateFuncs).ParseFS(templateFiles,
			"templates/layout.html", "templates/parts.html", "templates/"+name+".html"))
		ps.byName[name] = t
	}
	return ps
}

var templateFuncs = template.FuncMap{
	"utc":             func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"rfc3339":         func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") },
	"json":            prettyJSON,
	"asset":           assetURL,
	"deref":           func(t *time.Time) time.Time { return *t },
	"runConversation": runConversation,
	"subjectPath":     subjectPath,
	// instant is an exact time for a link (microseconds kept).
	"instant": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
}

// prettyJSON renders a value as indented JSON text (escaped by the
// template like any text).
func prettyJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "(not JSON)"
	}
	return string(b)
}

// render executes a page into a buffer first, so a failing template never
// sends half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) error {
	var buf bytes.Buffer
	if err := c.pages.byName[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

type errorView struct {
	Status  int
	Heading string
	Message string
	// Holder is set for identifier_taken: the customer holding it.
	Holder string
}

// fail renders err as an error page with the status of its code; the
// message of an internal error stays in the log.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, op *operator, err error) {
	v := errorView{Status: http.StatusInternalServerError, Heading: "Something went wrong",
		Message: "The error was logged. Try again, or go back to the search."}
	switch code := domain.ErrorCode(err); code {
	case domain.CodeNotFound, domain.CodeConversationNotFound:
		v = errorView{Status: http.StatusNotFound, Heading: "Not found",
			Message: "Nothing with this id exists in this organization. Check the id, or search again."}
	case domain.CodeInvalidArgument, domain.CodeIdentifierInvalid:
		v = errorView{Status: http.StatusBadRequest, Heading: "That did not work", Message: domain.ErrorMessage(err)}
	case domain.CodeForbidden, domain.CodeLicenseRequired:
		v = errorView{Status: http.StatusForbidden, Heading: "Not allowed", Message: domain.ErrorMessage(err)}
	case domain.CodeConflict, domain.CodeConversationClosed, domain.CodeNotDeployed:
		v = errorView{Status: http.StatusConflict, Heading: "That did not work", Message: domain.ErrorMessage(err)}
	case domain.CodeUnauthorized:
		c.needSignIn(w, r, err)
		return
	default:
		c.log.ErrorContext(r.Context(), "console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if rerr := c.render(w, r, v.Status, "error", page{Title: v.Heading, Op: op, Data: v}); rerr != nil {
		c.log.ErrorContext(r.Context(), "rendering the console error page", "err", rerr)
		http.Error(w, v.Heading, v.Status)
	}
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	op, err := c.authenticate(r)
	if err != nil {
		c.needSignIn(w, r, err)
		return
	}
	c.fail(w, r, op, domain.NotFound("page", r.URL.Path))
}

// assetVersions maps each asset to a hash of its content, so URLs change
// when the content does and browsers may cache them for long.
var assetVersions = func() map[string]string {
	out := map[string]string{}
	entries, _ := fs.ReadDir(assetFiles, "assets")
	for _, e := range entries {
		b, _ := fs.ReadFile(assetFiles, "assets/"+e.Name())
		sum := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return out
}()

func assetURL(name string) string { return "/console/assets/" + name + "?v=" + assetVersions[name] }

// serveAsset serves an embedded stylesheet or script.
func serveAsset(w http.ResponseWriter, r *http.Request, _ *operator) error {
	name := r.PathValue("file")
	version, ok := assetVersions[name]
	if !ok {
		http.NotFound(w, r)
		return nil
	}
	b, err := fs.ReadFile(assetFiles, "assets/"+name)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	if r.URL.Query().Get("v") == version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	_, err = w.Write(b)
	return err
}
