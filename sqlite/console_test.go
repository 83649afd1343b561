package sqlite_test

import (
	"testing"

	"github.com/parleyhq/parley/domain"
	"github.com/parleyhq/parley/storetest"
)

func TestConsoleStore(t *testing.T) {
	storetest.RunConsole(t, func(t testing.TB) domain.Store { return newStore(t) })
}
