package state

import (
	"crypto/ed25519"
	"testing"
)

func TestSmokeRound(t *testing.T) {
	r := DevRules()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	w, err := Genesis(r)
	if err != nil {
		t.Fatal(err)
	}
	parent := r.Root(w)
	delta := make([]float32, len(w))
	for i := range delta {
		delta[i] = float32(i%7) * 1e-3
	}
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	c, res, err := MakeContribution(r, parent, delta, nil, key, [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	raw := c.Encode()
	if err := CheckContribution(r, raw); err != nil {
		t.Fatal(err)
	}
	if err := Apply(r, w, parent, [][]byte{raw}); err != nil {
		t.Fatal(err)
	}
	t.Logf("root %x, len %d, res0 %v", r.Root(w), len(raw), res[0])
}
