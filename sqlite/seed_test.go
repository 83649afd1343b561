package sqlite_test

import (
	"testing"

	"github.com/parleyhq/parley/storetest"
)

func TestSeed(t *testing.T) {
	db := newStore(t)
	storetest.Seeding(t, db, db.Seed)
}
