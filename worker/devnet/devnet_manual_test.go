package devnet

import (
	"context"
	"encoding/json"
	"os"
	"testing"
)

// TestManualDevnet runs the acceptance devnet (3 nodes, 30 blocks) when
// DEVNET_RUN is set, printing the summary JSON.
func TestManualDevnet(t *testing.T) {
	if os.Getenv("DEVNET_RUN") == "" {
		t.Skip("set DEVNET_RUN=1")
	}
	s, err := Run(context.Background(), Options{Nodes: 3, Blocks: 30, Progress: os.Stderr})
	b, _ := json.Marshal(s)
	t.Logf("%s agree=%v err=%v", b, s.Agree(), err)
	if err != nil || !s.Agree() || s.LossLast == nil || !(*s.LossLast < s.LossFirst) {
		t.Fail()
	}
}
