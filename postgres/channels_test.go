package postgres_test

import (
	"testing"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

func TestChannels(t *testing.T) { storetest.RunChannels(t, factory) }

func TestChannelRaces(t *testing.T) {
	storetest.RunChannelRaces(t, func(t testing.TB, n int) []domain.Store {
		stores := make([]domain.Store, n)
		for i, db := range postgres.OpenTestStores(t, n) {
			stores[i] = db
		}
		return stores
	}, true)
}
