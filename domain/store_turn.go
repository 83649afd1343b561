package domain

// TurnTx holds the Tx methods for bot turns: per-conversation message sequence, waits, traces.
type TurnTx interface{}
