package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/parleyhq/parley/domain"
)

// LockKeys takes an advisory transaction lock per key, on a 64-bit FNV-1a
// hash of (org, key), in ascending order of the hashes and in one
// statement (a target list is evaluated left to right). Every transaction
// orders its locks the same way, so two of them locking overlapping keys
// cannot deadlock each other, even when two keys share a hash.
func (t *tx) LockKeys(ctx context.Context, org domain.OrgID, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(keys))
	for _, key := range keys {
		ids = append(ids, lockID(org, key))
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	args := make([]any, len(ids))
	calls := make([]string, len(ids))
	for i, id := range ids {
		args[i] = id
		calls[i] = fmt.Sprintf("pg_advisory_xact_lock($%d)", i+1)
	}
	if _, err := t.exec(ctx, "SELECT "+strings.Join(calls, ", "), args...); err != nil {
		return fmt.Errorf("postgres: lock keys: %w", err)
	}
	return nil
}

// lockID is the advisory lock id of org's key.
func lockID(org domain.OrgID, key string) int64 {
	h := fnv.New64a()
	h.Write([]byte(org))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return int64(h.Sum64())
}
