package postgres

import (
	"testing"

	"github.com/parleyhq/parley/storetest"
)

func TestSeed(t *testing.T) {
	db := OpenTestStore(t)
	storetest.Seeding(t, db, db.Seed)
}
