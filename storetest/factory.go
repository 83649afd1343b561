// Package storetest holds backend-agnostic test suites for domain.Store
// implementations. Each backend runs them from its own tests with a
// Factory, e.g.
//
//	func TestStoreContract(t *testing.T) {
//		storetest.RunContract(t, func(t testing.TB) domain.Store { ... })
//	}
package storetest

import (
	"testing"

	"github.com/parleyhq/parley/domain"
)

// Factory returns a fresh, migrated, empty store whose cleanup (Close and
// removal of its data) is registered with t.Cleanup.
type Factory func(t testing.TB) domain.Store
