package postgres_test

import (
	"testing"

	"github.com/parleyhq/parley/storetest"
)

func TestLookupContract(t *testing.T) { storetest.RunLookup(t, factory) }
