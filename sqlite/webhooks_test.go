package sqlite_test

import (
	"testing"

	"github.com/parleyhq/parley/storetest"
)

func TestWebhookContract(t *testing.T) { storetest.RunWebhookContract(t, factory) }
