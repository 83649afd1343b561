package domain

// ChannelTx holds the Tx methods for channel resources' bindings and secrets, inbound routing, the SMS outbox and opt-outs.
type ChannelTx interface{}
