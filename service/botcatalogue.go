package service

import "github.com/parleyhq/parley/bot"

// BotCatalogue describes the data operations and actions for the bot
// checker: names, inputs (boolean or text) and default output variables.
func BotCatalogue() []bot.Operation {
	infos := Operations()
	out := make([]bot.Operation, len(infos))
	for i, info := range infos {
		op := bot.Operation{Kind: string(info.Kind), Name: info.Name, Variable: info.Variable}
		for _, in := range info.Inputs {
			op.Inputs = append(op.Inputs, bot.OperationInput{Name: in.Name, Boolean: in.Type == InputBoolean, Required: in.Required})
		}
		out[i] = op
	}
	return out
}
