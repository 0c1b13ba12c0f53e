package chaintest

import (
	"github.com/gradientcoin/gradientcoin/chain"
)

// Script accumulates steps while the generator builds blocks. It tracks
// the expected tip: an accepted block becomes it; after a rejected block,
// an orphan or a side-chain block the generator goes back to it.
type Script struct {
	G     *Generator
	Steps []Step
	tip   string
}

// NewScript starts a script at the generator's tip.
func NewScript(g *Generator) *Script { return &Script{G: g, tip: g.Tip()} }

// ExpectedTip is the name of the tip the chain should have now.
func (s *Script) ExpectedTip() string { return s.tip }

func (s *Script) add(st Step) {
	s.Steps = append(s.Steps, st)
}

// Accept expects b to be accepted onto the main chain and become the tip.
func (s *Script) Accept(name string, b *chain.Block) {
	s.tip = s.G.Name(b.Hash())
	s.add(Step{Name: name, Block: b, Expect: ExpectAccept, Tip: s.tip})
	s.G.SetTip(s.tip)
}

// AcceptTip expects b to be accepted onto the main chain with tip as the
// tip afterwards (orphans it connected, say).
func (s *Script) AcceptTip(name string, b *chain.Block, tip string) {
	s.tip = tip
	s.add(Step{Name: name, Block: b, Expect: ExpectAccept, Tip: tip})
	s.G.SetTip(tip)
}

// AcceptNow is Accept with the local clock set to now.
func (s *Script) AcceptNow(name string, b *chain.Block, now int64) {
	s.tip = s.G.Name(b.Hash())
	s.add(Step{Name: name, Block: b, Expect: ExpectAccept, Tip: s.tip, Now: now})
	s.G.SetTip(s.tip)
}

// Side expects b to be stored on a side chain; the chain's tip stays, the
// generator keeps building on b (to extend the fork).
func (s *Script) Side(name string, b *chain.Block) {
	s.add(Step{Name: name, Block: b, Expect: ExpectSide, Tip: s.tip})
	s.G.SetTip(s.G.Name(b.Hash()))
}

// Reject expects b to be rejected with kind; the tip stays.
func (s *Script) Reject(name string, b *chain.Block, kind chain.ErrorKind) {
	s.add(Step{Name: name, Block: b, Expect: ExpectReject, Kind: kind, Tip: s.tip})
	s.G.SetTip(s.tip)
}

// RejectNow is Reject with the local clock set to now.
func (s *Script) RejectNow(name string, b *chain.Block, kind chain.ErrorKind, now int64) {
	s.add(Step{Name: name, Block: b, Expect: ExpectReject, Kind: kind, Tip: s.tip, Now: now})
	s.G.SetTip(s.tip)
}

// Orphan expects b to go to the orphan pool.
func (s *Script) Orphan(name string, b *chain.Block) {
	s.add(Step{Name: name, Block: b, Expect: ExpectOrphan, Tip: s.tip})
	s.G.SetTip(s.tip)
}

// OrphanNow is Orphan with the local clock set to now.
func (s *Script) OrphanNow(name string, b *chain.Block, now int64) {
	s.add(Step{Name: name, Block: b, Expect: ExpectOrphan, Tip: s.tip, Now: now})
	s.G.SetTip(s.tip)
}

// DecodeReject expects raw not to decode, with kind.
func (s *Script) DecodeReject(name string, raw []byte, kind chain.ErrorKind) {
	s.add(Step{Name: name, Raw: raw, Expect: ExpectDecodeReject, Kind: kind, Tip: s.tip})
}

// AcceptRaw expects raw to decode and be accepted as the new tip.
func (s *Script) AcceptRaw(name string, raw []byte, tipName string) {
	s.tip = tipName
	s.add(Step{Name: name, Raw: raw, Expect: ExpectAccept, Tip: tipName})
	s.G.SetTip(tipName)
}

// Do runs f; the tip must stay.
func (s *Script) Do(name string, f func(h *Harness) error) {
	s.add(Step{Name: name, Expect: ExpectFunc, Func: f, Tip: s.tip})
}

// outPool hands out spendable outputs in order.
type outPool struct {
	outs []SpendableOut
}

func (p *outPool) next() SpendableOut {
	if len(p.outs) == 0 {
		panic("chaintest: out of spendable outputs; lengthen the setup")
	}
	o := p.outs[0]
	p.outs = p.outs[1:]
	return o
}

func (p *outPool) take(n int) []SpendableOut {
	out := make([]SpendableOut, n)
	for i := range out {
		out[i] = p.next()
	}
	return out
}
