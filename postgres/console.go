package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/domain"
)

const consoleSessionColumns = `token_hash, org_id, api_key_id, csrf_token, created_at, expires_at`

func scanConsoleSession(row scanner) (domain.ConsoleSession, error) {
	var s domain.ConsoleSession
	err := row.Scan(&s.TokenHash, &s.OrgID, &s.APIKeyID, &s.CSRFToken, &s.CreatedAt, &s.ExpiresAt)
	s.CreatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
	return s, err
}

// CreateConsoleSession stores s; a duplicate token hash is a conflict.
func (t *tx) CreateConsoleSession(ctx context.Context, s domain.ConsoleSession) error {
	_, err := t.exec(ctx, `INSERT INTO console_sessions (`+consoleSessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.TokenHash, s.OrgID, s.APIKeyID, s.CSRFToken, s.CreatedAt, s.ExpiresAt)
	if err != nil {
		return fmt.Errorf("postgres: create console session: %w", err)
	}
	return nil
}

// GetConsoleSession returns the session of hash while its key is not
// revoked; CodeNotFound otherwise.
func (t *tx) GetConsoleSession(ctx context.Context, hash []byte) (domain.ConsoleSession, error) {
	return get(ctx, t, "console session", "with this token", scanConsoleSession,
		`SELECT s.token_hash, s.org_id, s.api_key_id, s.csrf_token, s.created_at, s.expires_at
		FROM console_sessions s JOIN api_keys k ON k.id = s.api_key_id AND k.org_id = s.org_id
		WHERE s.token_hash = $1 AND k.revoked_at IS NULL`, hash)
}

// DeleteConsoleSession deletes the session of hash, if any.
func (t *tx) DeleteConsoleSession(ctx context.Context, hash []byte) error {
	if _, err := t.exec(ctx, `DELETE FROM console_sessions WHERE token_hash = $1`, hash); err != nil {
		return fmt.Errorf("postgres: delete console session: %w", err)
	}
	return nil
}

// DeleteConsoleSessionsOfKey deletes the sessions opened with key.
func (t *tx) DeleteConsoleSessionsOfKey(ctx context.Context, org domain.OrgID, key domain.APIKeyID) (int, error) {
	tag, err := t.exec(ctx, `DELETE FROM console_sessions WHERE org_id = $1 AND api_key_id = $2`, org, key)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete console sessions of key: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteExpiredConsoleSessions deletes the sessions expired at now.
func (t *tx) DeleteExpiredConsoleSessions(ctx context.Context, now time.Time) (int, error) {
	tag, err := t.exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired console sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// FindRuns returns the org's runs matching f, newest first.
// CodeNotFound when f.Before is not a run of org.
func (t *tx) FindRuns(ctx context.Context, org domain.OrgID, f domain.RunFilter) ([]domain.OperationRun, error) {
	where, args := []string{"org_id = $1"}, []any{org}
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Before != "" {
		seq, err := get(ctx, t, "run", f.Before, scanSeq,
			`SELECT seq FROM operation_runs WHERE org_id = $1 AND id = $2`, org, f.Before)
		if err != nil {
			return nil, err
		}
		arg("seq < $%d", seq)
	}
	if f.Name != "" {
		arg("name = $%d", f.Name)
	}
	if f.ErrorCode != "" {
		arg("error_code = $%d", f.ErrorCode)
	}
	if f.Failed {
		where = append(where, "error_code <> ''")
	}
	if f.SessionID != "" {
		arg("session_id = $%d", f.SessionID)
	}
	args = append(args, limitOrAll(f.Limit))
	return collect(ctx, t, scanRun, fmt.Sprintf(`SELECT `+runColumns+` FROM operation_runs WHERE %s
		ORDER BY seq DESC LIMIT $%d`, strings.Join(where, " AND "), len(args)), args...)
}
