package cosmos

import (
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/storetest"
)

// TestStore runs the contract suite, each subtest in a database of its own.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) guard.Store { return openTest(t) })
}
