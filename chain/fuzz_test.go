package chain

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Native fuzz targets for the decoders and the compact-bits codec. Seed
// corpora live in testdata/fuzz/<FuzzName>/ (regenerate them with
// GC_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./chain); go test
// runs every seed as a regular test. bench/fuzz.sh runs them for real.

// checkRuleError fails unless err is a RuleError with a known kind and a
// description.
func checkRuleError(t *testing.T, what string, err error) {
	t.Helper()
	var re RuleError
	if !errors.As(err, &re) || re.Err == "" || re.Description == "" {
		t.Fatalf("%s: error %v (%T) is not a described RuleError", what, err, err)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	for _, s := range headerSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeHeader(data)
		if err != nil {
			checkRuleError(t, "DecodeHeader", err)
			if len(data) == HeaderSize {
				t.Fatalf("rejected a %d-byte header: %v", HeaderSize, err)
			}
			return
		}
		enc := h.Bytes()
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs from the input:\n in %x\nout %x", data, enc)
		}
		h2, err := DecodeHeader(enc)
		if err != nil || h2 != h {
			t.Fatalf("decode∘encode: %v, %+v vs %+v", err, h2, h)
		}
		j := NewPowJob(&h)
		if j.Hash(h.Nonce) != h.BlockHash() {
			t.Fatal("PowJob hash differs from the block hash")
		}
		_ = CheckProofOfWork(&h, powLimit(255))
	})
}

func FuzzDecodeTx(f *testing.F) {
	for _, s := range txSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tx, err := DecodeTx(data)
		if err != nil {
			checkRuleError(t, "DecodeTx", err)
			if tx != nil {
				t.Fatal("non-nil tx with an error")
			}
			return
		}
		enc := tx.Bytes()
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs from the input:\n in %x\nout %x", data, enc)
		}
		if n := tx.SerializeSize(); n != len(data) {
			t.Fatalf("SerializeSize %d, encoding %d bytes", n, len(data))
		}
		tx2, err := DecodeTx(enc)
		if err != nil || !reflect.DeepEqual(tx, tx2) {
			t.Fatalf("decode∘encode: %v\n%+v\n%+v", err, tx, tx2)
		}
		_, _ = tx.TxID(), tx.Hash()
		_ = tx.IsCoinbase()
	})
}

func FuzzDecodeBlock(f *testing.F) {
	for _, s := range blockSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		data := bytes.Clone(in) // mutated below
		blk, err := DecodeBlock(data)
		if err != nil {
			checkRuleError(t, "DecodeBlock", err)
			if blk != nil {
				t.Fatal("non-nil block with an error")
			}
			return
		}
		enc := blk.Bytes()
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs from the input:\n in %x\nout %x", data, enc)
		}
		if n := blk.SerializeSize(); n != len(data) {
			t.Fatalf("SerializeSize %d, encoding %d bytes", n, len(data))
		}
		blk2, err := DecodeBlock(enc)
		if err != nil || !reflect.DeepEqual(blk, blk2) {
			t.Fatalf("decode∘encode: %v", err)
		}
		_, _, _ = CalcTxRoot(blk.Txs), CalcGradientRoot(blk.Contributions), blk.GradientSize()
		// Decoded values never alias the input.
		for i := range data {
			data[i] ^= 0xff
		}
		if !bytes.Equal(blk.Bytes(), enc) {
			t.Fatal("decoded block aliases the input buffer")
		}
	})
}

// FuzzCompactBits: decoding arbitrary bits never panics; a valid target
// survives encode/decode exactly; encoding an arbitrary number < 2^256
// gives valid bits whose target is at most the number and loses less than
// 2^(bitlen−16); the compact form is a fixed point.
func FuzzCompactBits(f *testing.F) {
	for _, s := range compactSeeds() {
		f.Add(s.bits, s.num)
	}
	f.Fuzz(func(t *testing.T, bits uint32, num []byte) {
		tg, neg, over := CompactToBig(bits)
		_, _ = TargetFromBits(bits, powLimit(256))
		_ = CalcWork(bits)
		if !neg && !over {
			if tg.Sign() < 0 || tg.BitLen() > 256 {
				t.Fatalf("bits %08x: target %x out of range without a flag", bits, tg)
			}
			c := BigToCompact(tg)
			back, n2, o2 := CompactToBig(c)
			if n2 || o2 || back.Cmp(tg) != 0 {
				t.Fatalf("bits %08x: target %x → %08x → %x (neg %v over %v)", bits, tg, c, back, n2, o2)
			}
		}
		if len(num) > 32 {
			num = num[:32]
		}
		n := new(big.Int).SetBytes(num)
		c := BigToCompact(n)
		back, neg2, over2 := CompactToBig(c)
		switch {
		case neg2 || over2:
			t.Fatalf("%x → %08x: negative %v overflow %v", n, c, neg2, over2)
		case back.Cmp(n) > 0:
			t.Fatalf("%x → %08x → %x: rounded up", n, c, back)
		case n.BitLen() > 16 && new(big.Int).Sub(n, back).BitLen() > n.BitLen()-16:
			t.Fatalf("%x → %08x → %x: lost more than 2^(bitlen−16)", n, c, back)
		case n.BitLen() <= 16 && back.Cmp(n) != 0:
			t.Fatalf("%x → %08x → %x: small value not exact", n, c, back)
		case BigToCompact(back) != c:
			t.Fatalf("%x → %08x → %x → %08x: not a fixed point", n, c, back, BigToCompact(back))
		}
		le := TargetBytes(n)
		if HashToBig(Hash(le)).Cmp(n) != 0 {
			t.Fatalf("%x: TargetBytes/HashToBig do not round-trip", n)
		}
	})
}

// TestCompactSignAfterShift pins the Bitcoin semantics fixed in
// CompactToBig: the sign bit only counts when the shifted mantissa is
// non-zero.
func TestCompactSignAfterShift(t *testing.T) {
	cases := []struct {
		name string
		bits uint32
		neg  bool
		zero bool
	}{
		{"exp 1 mantissa shifts to zero", 0x01800001, false, true},
		{"exp 2 mantissa shifts to zero", 0x028000ff, false, true},
		{"exp 1 sign, value survives", 0x01810000, true, false},
		{"exp 3 sign", 0x03800001, true, false},
	}
	for _, c := range cases {
		tg, neg, _ := CompactToBig(c.bits)
		if neg != c.neg || (tg.Sign() == 0) != c.zero {
			t.Errorf("%s: bits %08x: negative %v target %x", c.name, c.bits, neg, tg)
		}
	}
}

// --- seeds ---

func seedTx(r *rand.Rand, nIn, nOut, payload int) *Tx {
	tx := &Tx{Version: TxVersion}
	for i := 0; i < nIn; i++ {
		var in TxIn
		for k := range in.PrevOut.TxID {
			in.PrevOut.TxID[k] = byte(r.Uint32())
		}
		in.PrevOut.Index = r.Uint32N(4)
		tx.Inputs = append(tx.Inputs, in)
	}
	for i := 0; i < nOut; i++ {
		var out TxOut
		out.Value = r.Uint64N(MaxMoney)
		for k := range out.Address {
			out.Address[k] = byte(r.Uint32())
		}
		tx.Outputs = append(tx.Outputs, out)
	}
	if payload > 0 {
		tx.Payload = make([]byte, payload)
		for k := range tx.Payload {
			tx.Payload[k] = byte(r.Uint32())
		}
	}
	keys := make([]ed25519.PrivateKey, nIn)
	vals := make([]uint64, nIn)
	for i := range keys {
		var s [32]byte
		s[0] = byte(i)
		keys[i] = ed25519.NewKeyFromSeed(s[:])
		vals[i] = uint64(i) * AtomsPerCoin
	}
	if nIn > 0 {
		if err := SignTx(tx, keys, vals, Hash{1}); err != nil {
			panic(err)
		}
	}
	return tx
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func headerSeeds() [][]byte {
	r := rand.New(rand.NewPCG(21, 22))
	var out [][]byte
	for _, p := range allParams() {
		out = append(out, p.GenesisBlock.Header.Bytes())
	}
	h := testHeader(r)
	out = append(out, h.Bytes(), make([]byte, HeaderSize), bytes.Repeat([]byte{0xff}, HeaderSize),
		h.Bytes()[:HeaderSize-1], append(h.Bytes(), 0), nil)
	return out
}

func txSeeds() [][]byte {
	r := rand.New(rand.NewPCG(23, 24))
	p := DevnetParams()
	out := [][]byte{
		p.GenesisBlock.Txs[0].Bytes(),
		seedTx(r, 1, 2, 0).Bytes(),
		seedTx(r, 3, 1, 0).Bytes(),
		seedTx(r, 0, 0, 0).Bytes(),
		seedTx(r, 1, 2, MaxCoinbasePayload).Bytes(),
	}
	full := seedTx(r, 2, 2, 5).Bytes()
	out = append(out,
		full[:len(full)-1],                   // truncated payload
		append(full, 0),                      // trailing byte
		append(le32(1), le32(^uint32(0))...), // huge input count
		append(append(le32(1), le32(0)...), le32(MaxCoinbaseOuts+1)...),                        // too many outputs
		append(append(append(le32(1), le32(0)...), le32(0)...), le32(MaxCoinbasePayload+1)...), // payload too long
		nil,
	)
	return out
}

func blockSeeds() [][]byte {
	r := rand.New(rand.NewPCG(25, 26))
	var out [][]byte
	for _, p := range allParams() {
		out = append(out, p.GenesisBlock.Bytes())
	}
	p := DevnetParams()
	blk := &Block{
		Header:        Header{Version: HeaderVersion, Height: 1, PrevBlock: p.GenesisHash, Timestamp: p.GenesisTimestamp + 5, Bits: p.PowLimitBits},
		Txs:           []*Tx{p.GenesisBlock.Txs[0], seedTx(r, 1, 2, 0), seedTx(r, 2, 1, 0)},
		Contributions: [][]byte{{1, 2, 3}, {}, bytes.Repeat([]byte{0xab}, 300)},
	}
	blk.Header.TxRoot = CalcTxRoot(blk.Txs)
	blk.Header.GradientRoot = CalcGradientRoot(blk.Contributions)
	raw := blk.Bytes()
	hdr := p.GenesisBlock.Header.Bytes()
	out = append(out, raw,
		raw[:len(raw)-1], append(raw, 0),
		append(append(hdr, le32(0)...), le32(0)...),                                                 // no txs, no contributions
		append(append([]byte(nil), hdr...), le32(^uint32(0))...),                                    // huge tx count
		append(append(append([]byte(nil), hdr...), le32(0)...), le32(MaxBlockContributions+1)...),   // too many contributions
		append(append(append(append([]byte(nil), hdr...), le32(0)...), le32(1)...), le32(1<<30)...), // huge contribution
		nil)
	return out
}

type compactSeed struct {
	bits uint32
	num  []byte
}

func compactSeeds() []compactSeed {
	return []compactSeed{
		{0x1d00ffff, nil},
		{0x2000ffff, bytes.Repeat([]byte{0xff}, 32)},
		{0, []byte{0x80, 0, 0}},
		{0x04923456, []byte{0x7f, 0xff, 0xff}},
		{0x01800001, []byte{1}},
		{0xff123456, []byte{0x01, 0, 0, 0, 0}},
		{0x22000001, []byte{0x00, 0x80}},
		{0x2100ffff, []byte{0xff, 0xff, 0xff, 0xff}},
		{0x03800000, []byte{0x12, 0x34, 0x56, 0x78, 0x9a}},
	}
}

// TestWriteFuzzSeeds writes the seed corpora under testdata/fuzz when
// GC_WRITE_FUZZ_SEEDS=1 (files named seed-NN; crashers found by fuzzing
// are kept beside them under their own names).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("GC_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set GC_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz seeds")
	}
	write := func(fuzzName string, i int, body string) {
		dir := filepath.Join("testdata", "fuzz", fuzzName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
		if err := os.WriteFile(name, []byte("go test fuzz v1\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bs := func(b []byte) string { return fmt.Sprintf("[]byte(%q)\n", b) }
	for i, s := range headerSeeds() {
		write("FuzzDecodeHeader", i, bs(s))
	}
	for i, s := range txSeeds() {
		write("FuzzDecodeTx", i, bs(s))
	}
	for i, s := range blockSeeds() {
		write("FuzzDecodeBlock", i, bs(s))
	}
	for i, s := range compactSeeds() {
		write("FuzzCompactBits", i, fmt.Sprintf("uint32(%d)\n", s.bits)+bs(s.num))
	}
}

// TestNoPanicEdges covers the surgical fixes: TargetBytes clamps instead
// of panicking, VerifyInput rejects an out-of-range input index.
func TestNoPanicEdges(t *testing.T) {
	ones := bytes.Repeat([]byte{0xff}, 32)
	cases := []struct {
		name string
		in   *big.Int
		want []byte
	}{
		{"nil", nil, make([]byte, 32)},
		{"negative", big.NewInt(-5), make([]byte, 32)},
		{"2^256", new(big.Int).Lsh(bigOne, 256), ones},
		{"2^256-1", powLimit(256), ones},
		{"one", big.NewInt(1), append([]byte{1}, make([]byte, 31)...)},
	}
	for _, c := range cases {
		if got := TargetBytes(c.in); !bytes.Equal(got[:], c.want) {
			t.Errorf("TargetBytes(%s): %x", c.name, got)
		}
	}
	tx := seedTx(rand.New(rand.NewPCG(1, 1)), 1, 1, 0)
	for _, i := range []int{-1, 1, 100} {
		if err := VerifyInput(tx, i, Hash{}, Address{}); !errors.Is(err, ErrBadTxInput) {
			t.Errorf("VerifyInput index %d: %v", i, err)
		}
	}
}
