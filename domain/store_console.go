package domain

import (
	"context"
	"time"
)

// ConsoleTx holds the Tx methods of the operator console: its sign-in
// sessions, and the run log filtered the way operators read it.
type ConsoleTx interface {
	// CreateConsoleSession stores s; a duplicate token hash is a conflict.
	CreateConsoleSession(ctx context.Context, s ConsoleSession) error
	// GetConsoleSession returns the session whose token hashes to hash,
	// while the API key it was opened with is not revoked; CodeNotFound
	// otherwise (expiry is the caller's to check).
	GetConsoleSession(ctx context.Context, hash []byte) (ConsoleSession, error)
	// DeleteConsoleSession deletes the session of hash; a missing one is a
	// no-op.
	DeleteConsoleSession(ctx context.Context, hash []byte) error
	// DeleteConsoleSessionsOfKey deletes every session opened with the API
	// key and returns how many.
	DeleteConsoleSessionsOfKey(ctx context.Context, org OrgID, key APIKeyID) (int, error)
	// DeleteExpiredConsoleSessions deletes the sessions of every org that
	// expired at or before now and returns how many.
	DeleteExpiredConsoleSessions(ctx context.Context, now time.Time) (int, error)

	// FindRuns returns the org's runs matching f, newest first (reverse
	// recording order), at most f.Limit (0 for all). CodeNotFound when
	// f.Before is not a run of the org.
	FindRuns(ctx context.Context, org OrgID, f RunFilter) ([]OperationRun, error)
}

// ConsoleSession is an operator signed in to the console with an admin API
// key. Only the SHA-256 hash of its cookie token is stored.
type ConsoleSession struct {
	TokenHash []byte
	OrgID     OrgID
	APIKeyID  APIKeyID
	// CSRFToken must come back with every state-changing form.
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Expired reports whether the session has expired at now.
func (s ConsoleSession) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }

// RunFilter selects runs for FindRuns. Zero fields do not filter.
type RunFilter struct {
	Name      string    // the operation or action name
	ErrorCode string    // runs that failed with this code
	Failed    bool      // runs that failed with any code
	SessionID SessionID // runs inside this session
	Before    RunID     // keyset cursor: runs recorded before this one
	Limit     int
}
