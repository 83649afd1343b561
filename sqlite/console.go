package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

const consoleSessionColumns = `token_hash, org_id, api_key_id, csrf_token, created_at, expires_at`

func scanConsoleSession(s scanner) (domain.ConsoleSession, error) {
	var cs domain.ConsoleSession
	var created, expires int64
	err := s.Scan(&cs.TokenHash, &cs.OrgID, &cs.APIKeyID, &cs.CSRFToken, &created, &expires)
	cs.CreatedAt, cs.ExpiresAt = fromMicros(created), fromMicros(expires)
	return cs, err
}

// CreateConsoleSession stores s; a duplicate token hash is a conflict.
func (t *tx) CreateConsoleSession(ctx context.Context, s domain.ConsoleSession) error {
	return t.insert(ctx, "create console session",
		`INSERT INTO console_sessions (`+consoleSessionColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		s.TokenHash, s.OrgID, s.APIKeyID, s.CSRFToken, micros(s.CreatedAt), micros(s.ExpiresAt))
}

// GetConsoleSession returns the session of hash while its key is not
// revoked; CodeNotFound otherwise.
func (t *tx) GetConsoleSession(ctx context.Context, hash []byte) (domain.ConsoleSession, error) {
	return get(ctx, t, "console session", "with this token", scanConsoleSession,
		`SELECT s.token_hash, s.org_id, s.api_key_id, s.csrf_token, s.created_at, s.expires_at
		FROM console_sessions s JOIN api_keys k ON k.id = s.api_key_id AND k.org_id = s.org_id
		WHERE s.token_hash = ? AND k.revoked_at IS NULL`, hash)
}

// DeleteConsoleSession deletes the session of hash, if any.
func (t *tx) DeleteConsoleSession(ctx context.Context, hash []byte) error {
	if _, err := t.exec(ctx, `DELETE FROM console_sessions WHERE token_hash = ?`, hash); err != nil {
		return wrap("delete console session", err)
	}
	return nil
}

// DeleteConsoleSessionsOfKey deletes the sessions opened with key.
func (t *tx) DeleteConsoleSessionsOfKey(ctx context.Context, org domain.OrgID, key domain.APIKeyID) (int, error) {
	return t.deleted(ctx, "delete console sessions of key",
		`DELETE FROM console_sessions WHERE org_id = ? AND api_key_id = ?`, org, key)
}

// DeleteExpiredConsoleSessions deletes the sessions expired at now.
func (t *tx) DeleteExpiredConsoleSessions(ctx context.Context, now time.Time) (int, error) {
	return t.deleted(ctx, "delete expired console sessions",
		`DELETE FROM console_sessions WHERE expires_at <= ?`, micros(now))
}

// deleted runs a DELETE and returns how many rows it removed.
func (t *tx) deleted(ctx context.Context, op, query string, args ...any) (int, error) {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return int(n), nil
}

// FindRuns returns the org's runs matching f, newest first.
// CodeNotFound when f.Before is not a run of org.
func (t *tx) FindRuns(ctx context.Context, org domain.OrgID, f domain.RunFilter) ([]domain.OperationRun, error) {
	where, args := []string{"org_id = ?"}, []any{org}
	if f.Before != "" {
		seq, err := get(ctx, t, "run", f.Before, func(s scanner) (int64, error) {
			var seq int64
			return seq, s.Scan(&seq)
		}, `SELECT seq FROM operation_runs WHERE id = ? AND org_id = ?`, f.Before, org)
		if err != nil {
			return nil, err
		}
		where, args = append(where, "seq < ?"), append(args, seq)
	}
	if f.Name != "" {
		where, args = append(where, "name = ?"), append(args, f.Name)
	}
	if f.ErrorCode != "" {
		where, args = append(where, "error_code = ?"), append(args, f.ErrorCode)
	}
	if f.Failed {
		where = append(where, "error_code <> ''")
	}
	if f.SessionID != "" {
		where, args = append(where, "session_id = ?"), append(args, f.SessionID)
	}
	return list(ctx, t, "find runs", scanRun,
		`SELECT `+runColumns+` FROM operation_runs WHERE `+strings.Join(where, " AND ")+
			` ORDER BY seq DESC LIMIT ?`, append(args, limitArg(f.Limit))...)
}
