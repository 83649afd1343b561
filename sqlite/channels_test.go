package sqlite_test

import (
	"testing"

	"github.com/parleyhq/parley/storetest"
)

func TestChannels(t *testing.T)     { storetest.RunChannels(t, factory) }
func TestChannelRaces(t *testing.T) { storetest.RunChannelRaces(t, openShared, false) }
