package postgres_test

import (
	"testing"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/postgres"
	"github.com/parleyhq/parley/storetest"
)

func factory(t testing.TB) domain.Store { return postgres.OpenTestStore(t) }

func TestOperationFailures(t *testing.T) { storetest.RunFailures(t, factory) }
func TestTemporalHistory(t *testing.T)   { storetest.RunTemporal(t, factory) }
func TestOperations(t *testing.T)        { storetest.RunOperations(t, factory) }
