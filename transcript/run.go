package transcript

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/service"
)

// Runner plays transcript tests against a real service.
type Runner struct {
	Service *service.Service
	// NewOrg creates an organization with an ENTERPRISE licence; every
	// test runs in an org of its own.
	NewOrg func(ctx context.Context, name string) (domain.OrgID, error)
}

// Result is the outcome of one test: Diff is empty when it passed.
type Result struct {
	Test string
	Diff string
}

// Passed reports whether the test passed.
func (r Result) Passed() bool { return r.Diff == "" }

// RunFile runs every test of f. An error is a failure to run (the store),
// not a failing test.
func (r *Runner) RunFile(ctx context.Context, f *File) ([]Result, error) {
	var out []Result
	for _, t := range f.Tests {
		diff, err := r.run(ctx, f, t)
		if err != nil {
			return out, fmt.Errorf("%s: %q: %w", f.Path, t.Name, err)
		}
		out = append(out, Result{Test: t.Name, Diff: diff})
	}
	return out, nil
}

// play is one test being played: the transcript so far, as it happened.
type play struct {
	r       *Runner
	org     domain.OrgID
	conv    service.Started
	pending []string // bot messages not yet matched
	runs    []domain.OperationRun
	turns   int64 // turns seen
	shown   []string
}

func (p *play) show(mark, who, text string) {
	p.shown = append(p.shown, fmt.Sprintf("  %s %-9s %s", mark, who+":", text))
}

// fail renders the transcript up to the first difference.
func (p *play) fail(format string, args ...any) string {
	return strings.Join(p.shown, "\n") + "\n  " + fmt.Sprintf(format, args...)
}

func (r *Runner) run(ctx context.Context, f *File, t Test) (string, error) {
	svc := r.Service
	org, err := r.NewOrg(ctx, "transcript test")
	if err != nil {
		return "", err
	}
	app, err := svc.CreateApp(ctx, org, "bot under test")
	if err != nil {
		return "", err
	}
	v, err := svc.CreateVersion(ctx, org, app.ID, f.Definition)
	if domain.ErrorCode(err) == domain.CodeInvalidDefinition {
		return "  the bot is refused: " + domain.ErrorMessage(err), nil
	}
	if err != nil {
		return "", err
	}
	res, dep, err := r.channel(ctx, org, app.ID, v.ID, t.Preview)
	if err != nil {
		return "", err
	}
	if err := r.seed(ctx, org, res, t.Seed); err != nil {
		return "", err
	}
	p := &play{r: r, org: org}
	lines := t.Lines
	party := service.Party{ResourceID: res, CustomerDestination: "customer", CustomerIdentifier: t.Identifier}
	switch {
	case t.ByMessage:
		text := *lines[0].Customer
		lines = lines[1:]
		p.show(" ", "customer", text)
		rec, err := svc.Receive(ctx, org, service.Inbound{ResourceID: res, Destination: "customer", Text: text, CustomerIdentifier: t.Identifier})
		if err != nil {
			return p.fail("the first message was refused: %v", err), nil
		}
		p.conv.Conversation, p.pending = rec.Conversation, texts(rec.Replies)
		p.conv.Session.ID = rec.Conversation.SessionID
	case t.Preview:
		p.conv, err = svc.StartPreview(ctx, org, service.PreviewInput{VersionID: v.ID, Party: party})
		p.pending = texts(p.conv.Replies)
	default:
		p.conv, err = svc.StartConversation(ctx, org, service.StartInput{DeploymentID: dep, Party: party})
		p.pending = texts(p.conv.Replies)
	}
	if err != nil {
		return p.fail("the conversation did not start: %v", err), nil
	}
	if err := p.collectRuns(ctx); err != nil {
		return "", err
	}
	for _, l := range lines {
		diff, err := p.line(ctx, l)
		if err != nil || diff != "" {
			return diff, err
		}
	}
	if len(p.pending) > 0 {
		p.show("+", "bot", p.pending[0])
		return p.fail("the bot said more than the transcript expects"), nil
	}
	return "", nil
}

// channel binds a web chat resource to the bot: to its production
// deployment, or unbound for a preview.
func (r *Runner) channel(ctx context.Context, org domain.OrgID, app domain.AppID, v domain.VersionID, preview bool) (domain.ResourceID, domain.DeploymentID, error) {
	in := service.ResourceInput{Kind: domain.ResourceWebChat, Name: "transcript", Address: "transcript"}
	var dep domain.DeploymentID
	if !preview {
		d, err := r.Service.Publish(ctx, org, app, v, domain.EnvProduction)
		if err != nil {
			return "", "", err
		}
		dep, in.AppID, in.Environment = d.ID, app, domain.EnvProduction
	}
	res, err := r.Service.CreateResource(ctx, org, in)
	return res.ID, dep, err
}

// seed gives each identifier to a customer of its own, through a preview
// of a bot that does nothing.
func (r *Runner) seed(ctx context.Context, org domain.OrgID, res domain.ResourceID, identifiers []string) error {
	if len(identifiers) == 0 {
		return nil
	}
	app, err := r.Service.CreateApp(ctx, org, "seed")
	if err != nil {
		return err
	}
	v, err := r.Service.CreateVersion(ctx, org, app.ID, []byte(`{}`))
	if err != nil {
		return err
	}
	for i, ident := range identifiers {
		_, err := r.Service.StartPreview(ctx, org, service.PreviewInput{VersionID: v.ID, Party: service.Party{
			ResourceID: res, CustomerDestination: fmt.Sprintf("seed-%d", i), CustomerIdentifier: ident,
		}})
		if err != nil {
			return fmt.Errorf("seed %s: %w", ident, err)
		}
	}
	return nil
}

// line plays one transcript line; it returns the diff when it fails.
func (p *play) line(ctx context.Context, l Line) (string, error) {
	svc := p.r.Service
	switch {
	case l.Customer != nil:
		if len(p.pending) > 0 {
			p.show("+", "bot", p.pending[0])
			return p.fail("the bot said this before the customer's next message, which the transcript does not expect"), nil
		}
		p.show(" ", "customer", *l.Customer)
		rec, err := svc.ReceiveInConversation(ctx, p.org, p.conv.Conversation.ID, *l.Customer, "")
		if err != nil {
			return p.fail("the message was refused: %v", err), nil
		}
		p.pending, p.runs = texts(rec.Replies), nil
		return "", p.collectRuns(ctx)
	case l.Bot != nil:
		if len(p.pending) == 0 {
			p.show("-", "bot", l.Bot.String())
			return p.fail("the bot said nothing more (- expected, + said)"), nil
		}
		got := p.pending[0]
		p.pending = p.pending[1:]
		if !l.Bot.matches(got) {
			p.show("-", "bot", l.Bot.String())
			p.show("+", "bot", got)
			return p.fail("the bot said something else (- expected, + said)"), nil
		}
		p.show(" ", "bot", got)
	case l.Variables != nil:
		ses, err := svc.GetSession(ctx, p.org, p.conv.Conversation.SessionID)
		if err != nil {
			return "", err
		}
		for _, name := range sortedKeys(l.Variables) {
			want, got := l.Variables[name], ses.Variables[name]
			if !jsonEqual(want, got) {
				return p.fail("variable %s: expected %s, is %s", name, jsonText(want), jsonText(got)), nil
			}
		}
		p.show(" ", "variables", jsonText(l.Variables))
	case l.Runs != nil:
		if diff := p.checkRuns(l.Runs); diff != "" {
			return p.fail("%s", diff), nil
		}
		p.show(" ", "runs", fmt.Sprintf("%d as expected", len(l.Runs)))
	case l.Status != "":
		c, err := svc.GetConversation(ctx, p.org, p.conv.Conversation.ID)
		if err != nil {
			return "", err
		}
		if string(c.Status) != l.Status {
			return p.fail("status: expected %s, is %s", l.Status, c.Status), nil
		}
		p.show(" ", "status", l.Status)
	case l.CustomerIdentifier != nil:
		c, err := svc.GetConversation(ctx, p.org, p.conv.Conversation.ID)
		if err != nil {
			return "", err
		}
		cu, err := svc.GetCustomer(ctx, p.org, c.CustomerID)
		if err != nil {
			return "", err
		}
		if cu.Identifier != *l.CustomerIdentifier {
			return p.fail("customer identifier: expected %q, is %q", *l.CustomerIdentifier, cu.Identifier), nil
		}
		p.show(" ", "customer", "holds "+cu.Identifier)
	case l.Turn != nil:
		ts, err := svc.ListTurns(ctx, p.org, p.conv.Conversation.ID, max(p.turns-1, 0), service.MaxPageSize)
		if err != nil {
			return "", err
		}
		if len(ts) == 0 {
			return p.fail("turn: the bot ran no turn"), nil
		}
		last := ts[len(ts)-1]
		if last.Outcome != l.Turn.Outcome || (l.Turn.Error != "" && last.ErrorCode != l.Turn.Error) {
			return p.fail("turn: expected %s %s, was %s %s (%s)", l.Turn.Outcome, l.Turn.Error, last.Outcome, last.ErrorCode, last.ErrorMessage), nil
		}
		p.show(" ", "turn", strings.TrimSpace(last.Outcome+" "+last.ErrorCode))
	}
	return "", nil
}

// collectRuns reads the runs of the turns since the last look.
func (p *play) collectRuns(ctx context.Context) error {
	svc := p.r.Service
	ts, err := svc.ListTurns(ctx, p.org, p.conv.Conversation.ID, p.turns, service.MaxPageSize)
	if err != nil {
		return err
	}
	for _, t := range ts {
		p.turns = t.Number
		var tr bot.Trace
		if err := json.Unmarshal(t.Trace, &tr); err != nil {
			return err
		}
		for _, s := range tr.Steps {
			if s.Operation == nil || s.Operation.RunID == "" {
				continue
			}
			run, err := svc.GetRun(ctx, p.org, domain.RunID(s.Operation.RunID))
			if err != nil {
				return err
			}
			p.runs = append(p.runs, run)
		}
	}
	return nil
}

func (p *play) checkRuns(want []RunExpect) string {
	var got []string
	for _, r := range p.runs {
		got = append(got, fmt.Sprintf("%s (error %q, output %s)", r.Name, r.ErrorCode, jsonText(r.Output)))
	}
	if len(got) != len(want) {
		return fmt.Sprintf("runs since the last customer message: expected %d, were %d: %s", len(want), len(got), strings.Join(got, "; "))
	}
	for i, w := range want {
		r := p.runs[i]
		if r.Name != w.Operation || (w.Error != nil && *w.Error != r.ErrorCode) || (w.HasValue && !jsonEqual(w.Value, r.Output)) {
			return fmt.Sprintf("run %d: expected %s, was %s", i+1, describeRun(w), got[i])
		}
	}
	return ""
}

func describeRun(w RunExpect) string {
	s := w.Operation
	if w.Error != nil {
		s += fmt.Sprintf(" (error %q)", *w.Error)
	}
	if w.HasValue {
		s += " output " + jsonText(w.Value)
	}
	return s
}

func texts(ms []domain.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// jsonEqual compares two values as JSON documents.
func jsonEqual(a, b any) bool {
	var x, y any
	if json.Unmarshal([]byte(jsonText(a)), &x) != nil || json.Unmarshal([]byte(jsonText(b)), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
