package domain

// LookupTx holds the Tx methods for the identifier timeline, the customers list and filtered event feeds.
type LookupTx interface{}
