// Package examples embeds the example bots, so tests, benchmarks and the
// command line use the same documents a reader finds in this folder.
package examples

import _ "embed"

// ChangeNumber is examples/change-number/bot.yaml: the seed's bot, which
// asks a customer for their new phone number and updates their Customer
// Identifier.
//
//go:embed change-number/bot.yaml
var ChangeNumber []byte

// ChangeNumberJSON is examples/change-number/bot.json, the same bot as
// JSON, for the API (the README's walkthrough posts it with curl).
//
//go:embed change-number/bot.json
var ChangeNumberJSON []byte
