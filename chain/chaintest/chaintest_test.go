package chaintest

import (
	"testing"
)

// TestFullBlocks runs every generated step against a real BlockChain on a
// real bbolt store.
func TestFullBlocks(t *testing.T) {
	g, steps, err := Generate(Params(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHarness(g, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i, s := range steps {
		if err := h.Run(s); err != nil {
			t.Fatalf("step %d of %d: %v", i+1, len(steps), err)
		}
	}
	t.Logf("%d steps passed", len(steps))
}
