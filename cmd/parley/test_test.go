package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/domain"
)

// TestTranscriptCommand runs the example bot's transcript tests, then a
// test with a deliberately wrong expectation, which must fail with a diff
// and exit 1.
func TestTranscriptCommand(t *testing.T) {
	r := mustParley(t, nil, "test", "../../examples/change-number/")
	if !strings.Contains(r.stdout, "ok   ../../examples/change-number/bot_test.yaml") || !strings.Contains(r.stdout, "6 passed, 0 failed") {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	mustParley(t, nil, "test", "../../examples/...")

	dir := t.TempDir()
	definition, err := os.ReadFile("../../examples/change-number/bot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("bot.yaml", string(definition))
	wrong := write("wrong_test.yaml", `bot: bot.yaml
tests:
  - name: expects the wrong goodbye
    identifier: tel:+15550100000
    transcript:
      - bot: {match: "^Hi!"}
      - bot: {match: "^What is your new phone number"}
      - customer: +1 555 010 0001
      - bot: "Done! Bye."
  - name: passes
    transcript:
      - bot: {match: "^Hi!"}
      - bot: {match: "^What is your new phone number"}
`)
	r = parley(t, nil, "test", wrong)
	want := []string{
		"--- FAIL: expects the wrong goodbye",
		"    customer: +1 555 010 0001\n",
		"  - bot:      \"Done! Bye.\"\n",
		"  + bot:      Done: we now know you by +15550100001. Goodbye!\n",
		"1 passed, 1 failed",
	}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 2 transcript tests failed") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}

	// A test file that cannot be read, and a bot the checker refuses.
	broken := write("broken_test.yaml", "bot: bot.yaml\ntests: [{name: x, transcript: [{shout: hi}]}]\n")
	if r := parley(t, nil, "test", broken); r.code != 1 || !strings.Contains(r.stdout, `unknown line "shout"`) {
		t.Fatalf("broken file: %+v", r)
	}
	write("bad.yaml", "steps: {a: {say: 42}}\n")
	refused := write("refused_test.yaml", "bot: bad.yaml\ntests: [{name: refused, transcript: []}]\n")
	if r := parley(t, nil, "test", refused); r.code != 1 || !strings.Contains(r.stdout, "the bot is refused: /steps/a/say") {
		t.Fatalf("refused bot: %+v", r)
	}
	if r := parley(t, nil, "test"); r.code != 2 {
		t.Fatalf("no files: %+v", r)
	}
}

// TestBenchBotScenario converses with the example bot for a moment, over
// HTTP and in process, without an error.
func TestBenchBotScenario(t *testing.T) {
	r := mustParley(t, nil, "bench", "--self", "--scenario", "bot", "--clients", "3", "--duration", "300ms")
	fields := strings.Join(strings.Fields(r.stdout), " ")
	for _, want := range []string{"bot turn http", "bot turn in-process"} {
		if !strings.Contains(fields, want) {
			t.Errorf("bench output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestBotPublish publishes the example bot from its YAML file, then a new
// version of the same app; a definition the checker refuses prints its
// path and stores nothing.
func TestBotPublish(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"PARLEY_DATA": data}
	mustParley(t, env, "migrate")
	org := shellVars(t, mustParley(t, env, "org", "create", "--name", "Acme", "--plan", "enterprise").stdout)["PARLEY_ORG"]
	env["PARLEY_ORG"] = org
	out := shellVars(t, mustParley(t, env, "bot", "publish", "--file", "../../examples/change-number/bot.yaml", "--name", "Change number").stdout)
	if !strings.HasPrefix(out["PARLEY_APP"], "app_") || !strings.HasPrefix(out["PARLEY_VERSION"], "ver_") || !strings.HasPrefix(out["PARLEY_DEPLOYMENT"], "dep_") {
		t.Fatalf("bot publish printed %v", out)
	}
	again := shellVars(t, mustParley(t, env, "bot", "publish", "--app", out["PARLEY_APP"], "--environment", "qa",
		"--file", "../../examples/change-number/bot.json").stdout)
	if again["PARLEY_APP"] != out["PARLEY_APP"] || again["PARLEY_VERSION"] == out["PARLEY_VERSION"] {
		t.Fatalf("second publish printed %v after %v", again, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("triggers: {conversation_started: hi}\nsteps: {hi: {say: \"'Hi' + 1\"}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := parley(t, env, "bot", "publish", "--app", out["PARLEY_APP"], "--file", bad)
	if r.code != 1 || !strings.Contains(r.stderr, "invalid_definition: /steps/hi/say") {
		t.Fatalf("bad definition: %+v", r)
	}
	db := openStore(t, data)
	var versions []domain.AppVersion
	err := db.View(context.Background(), func(tx domain.Tx) error {
		var err error
		versions, err = tx.ListVersions(context.Background(), domain.OrgID(org), domain.AppID(out["PARLEY_APP"]))
		return err
	})
	if err != nil || len(versions) != 2 {
		t.Fatalf("versions %d (%v), want 2", len(versions), err)
	}
}
