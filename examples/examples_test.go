package examples_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/parleyhq/parley/bot"
	"github.com/parleyhq/parley/examples"
)

// TestChangeNumberJSONIsTheYAML keeps bot.json the same document as
// bot.yaml.
func TestChangeNumberJSONIsTheYAML(t *testing.T) {
	fromYAML, err := bot.ToJSON(examples.ChangeNumber)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(fromYAML, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(examples.ChangeNumberJSON, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("examples/change-number/bot.json differs from bot.yaml; regenerate it from the YAML")
	}
}
