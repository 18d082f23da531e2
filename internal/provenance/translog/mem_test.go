package translog_test

import (
	"testing"

	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/storetest"
)

func TestMemStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) translog.Store { return &translog.MemStore{} })
}
