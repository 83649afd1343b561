package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
