package chain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"
)

func testHeader(r *rand.Rand) Header {
	var h Header
	h.Version = HeaderVersion
	h.Height = r.Uint64()
	for _, p := range []*Hash{&h.PrevBlock, &h.TxRoot, &h.GradientRoot, &h.StateRoot} {
		for i := range p {
			p[i] = byte(r.Uint32())
		}
	}
	h.Timestamp = int64(r.Uint64())
	h.Bits = r.Uint32()
	h.Nonce = r.Uint64()
	return h
}

func TestHeaderLayout(t *testing.T) {
	h := Header{Version: 0x04030201, Height: 0x0c0b0a0908070605, Timestamp: -2, Bits: 0x1d00ffff, Nonce: 0x1122334455667788}
	h.PrevBlock[0], h.TxRoot[0], h.GradientRoot[0], h.StateRoot[31] = 0xa1, 0xa2, 0xa3, 0xa4
	b := h.Bytes()
	checks := []struct {
		name string
		off  int
		want []byte
	}{
		{"version", 0, []byte{1, 2, 3, 4}},
		{"height", 4, []byte{5, 6, 7, 8, 9, 10, 11, 12}},
		{"prev", 12, []byte{0xa1}},
		{"txroot", 44, []byte{0xa2}},
		{"gradroot", 76, []byte{0xa3}},
		{"stateroot end", 139, []byte{0xa4}},
		{"timestamp", 140, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"bits", 148, []byte{0xff, 0xff, 0x00, 0x1d}},
		{"nonce", 152, []byte{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}},
	}
	if len(b) != HeaderSize {
		t.Fatalf("len %d", len(b))
	}
	for _, c := range checks {
		if got := b[c.off : c.off+len(c.want)]; !bytes.Equal(got, c.want) {
			t.Errorf("%s at %d: got %x want %x", c.name, c.off, got, c.want)
		}
	}
}

func TestHeaderRoundTripAndErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100; i++ {
		h := testHeader(r)
		got, err := DecodeHeader(h.Bytes())
		if err != nil || got != h {
			t.Fatalf("case %d: round trip: %v %+v", i, err, got)
		}
	}
	h := testHeader(r)
	if _, err := DecodeHeader(h.Bytes()[:159]); !errors.Is(err, ErrTruncated) {
		t.Errorf("short header: %v", err)
	}
	if _, err := DecodeHeader(append(h.Bytes(), 0)); !errors.Is(err, ErrTrailingData) {
		t.Errorf("long header: %v", err)
	}
}

func TestSHA256BlockMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 50; i++ {
		h := testHeader(r)
		b := h.Bytes()
		want := sha256.Sum256(b)
		// Full message of 160 bytes = 3 chunks after padding.
		var padded [192]byte
		copy(padded[:], b)
		padded[160] = 0x80
		padded[191] = 0x00
		padded[190] = 0x05 // 1280 bits = 0x0500
		st := sha256IV
		for c := 0; c < 3; c++ {
			sha256Block(&st, padded[64*c:64*c+64])
		}
		var got [32]byte
		for k, v := range st {
			got[4*k], got[4*k+1], got[4*k+2], got[4*k+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		}
		if got != want {
			t.Fatalf("case %d: sha256Block %x, stdlib %x", i, got, want)
		}
	}
}

func TestPowJobHashMatchesBlockHash(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 50; i++ {
		h := testHeader(r)
		j := NewPowJob(&h)
		for _, n := range []uint64{0, 1, 1<<32 - 1, 1 << 32, ^uint64(0), r.Uint64()} {
			h.Nonce = n
			if got, want := j.Hash(n), h.BlockHash(); got != want {
				t.Fatalf("case %d nonce %d: job %s header %s", i, n, got, want)
			}
		}
	}
}

func TestCompactBits(t *testing.T) {
	cases := []struct {
		name     string
		bits     uint32
		want     string // hex of target
		neg, ovf bool
		back     uint32 // BigToCompact of the target (0: same as bits)
	}{
		{"bitcoin genesis", 0x1d00ffff, "ffff0000000000000000000000000000000000000000000000000000", false, false, 0},
		{"zero", 0, "0", false, false, 0},
		{"small exponent", 0x01123456, "12", false, false, 0x01120000},
		{"exponent 2", 0x02123456, "1234", false, false, 0x02123400},
		{"exponent 3", 0x03123456, "123456", false, false, 0},
		{"negative", 0x04923456, "12345600", true, false, 0x04123456},
		{"sign bit but zero mantissa", 0x04800000, "0", false, false, 0},
		{"mantissa high bit", 0x05009234, "92340000", false, false, 0},
		{"max 256-bit", 0x2100ffff, "ffff" + zeros(60), false, false, 0},
		{"overflow", 0xff123456, "", false, true, 0},
		{"overflow at 34", 0x22010000, "", false, true, 0},
	}
	for _, c := range cases {
		tg, neg, ovf := CompactToBig(c.bits)
		if neg != c.neg || ovf != c.ovf {
			t.Errorf("%s: negative=%v overflow=%v, want %v %v", c.name, neg, ovf, c.neg, c.ovf)
			continue
		}
		if ovf {
			continue
		}
		if got := tg.Text(16); got != c.want {
			t.Errorf("%s: target %s want %s", c.name, got, c.want)
		}
		want := c.back
		if want == 0 {
			want = c.bits
		}
		if tg.Sign() == 0 {
			want = 0
		}
		if got := BigToCompact(tg); got != want {
			t.Errorf("%s: BigToCompact %08x want %08x", c.name, got, want)
		}
	}
}

func zeros(n int) string { return string(bytes.Repeat([]byte{'0'}, n)) }

func TestProofOfWorkByteOrder(t *testing.T) {
	// The hash is read little-endian: byte 31 is the most significant.
	var h Hash
	h[31] = 0x01
	if got := HashToBig(h); got.Cmp(new(big.Int).Lsh(big.NewInt(1), 248)) != 0 {
		t.Fatalf("byte 31 = 1 reads as %x, want 2^248", got)
	}
	h = Hash{}
	h[0] = 0x01
	if HashToBig(h).Cmp(big.NewInt(1)) != 0 {
		t.Fatal("byte 0 = 1 must read as 1")
	}
	target := new(big.Int).Lsh(big.NewInt(1), 200)
	le := TargetBytes(target)
	cases := []struct {
		name string
		h    func() Hash
		ok   bool
	}{
		{"equal target", func() Hash { return Hash(le) }, true},
		{"one above", func() Hash { x := Hash(le); x[0] = 1; return x }, false},
		{"one below", func() Hash {
			var x Hash
			for i := 0; i < 25; i++ {
				x[i] = 0xff
			}
			return x
		}, true},
		{"high byte set", func() Hash { var x Hash; x[31] = 1; return x }, false},
	}
	for _, c := range cases {
		h := c.h()
		if got := HashMeetsTarget(h, &le); got != c.ok {
			t.Errorf("%s: HashMeetsTarget=%v want %v", c.name, got, c.ok)
		}
		if got := HashToBig(h).Cmp(target) <= 0; got != c.ok {
			t.Errorf("%s: big compare=%v want %v", c.name, got, c.ok)
		}
	}
}

func TestCalcWork(t *testing.T) {
	// A target of 2^(256-k) - 1 takes 2^k hashes.
	for _, k := range []uint{1, 8, 32, 100} {
		tgt := new(big.Int).Sub(new(big.Int).Lsh(bigOne, 256-k), bigOne)
		bits := BigToCompact(tgt)
		t2, _, _ := CompactToBig(bits)
		want := new(big.Int).Div(oneLsh256, new(big.Int).Add(t2, bigOne))
		if CalcWork(bits).Cmp(want) != 0 {
			t.Errorf("k=%d: work %v want %v", k, CalcWork(bits), want)
		}
	}
	for _, bad := range []uint32{0, 0x04923456, 0xff123456} {
		if CalcWork(bad).Sign() != 0 {
			t.Errorf("bits %08x: invalid target must have zero work", bad)
		}
	}
}

func TestMerkleNoMutation(t *testing.T) {
	h := func(b byte) Hash { return Hash{b} }
	a, b, c := h(1), h(2), h(3)
	roots := map[Hash]string{}
	for name, leaves := range map[string][]Hash{
		"abc": {a, b, c}, "abcc": {a, b, c, c}, "ab": {a, b}, "a": {a}, "ba": {b, a}, "aabb": {a, a, b, b},
	} {
		r := MerkleRoot(leaves)
		if other, dup := roots[r]; dup {
			t.Errorf("%s and %s share a root", name, other)
		}
		roots[r] = name
	}
	if MerkleRoot(nil) != ZeroHash {
		t.Error("empty root must be zero")
	}
}

func testTx(r *rand.Rand, nIn, nOut int) *Tx {
	tx := &Tx{Version: TxVersion}
	for i := 0; i < nIn; i++ {
		var in TxIn
		in.PrevOut.TxID[0] = byte(r.Uint32())
		in.PrevOut.Index = r.Uint32() % 4
		in.PubKey[1] = byte(r.Uint32())
		in.Signature[2] = byte(r.Uint32())
		tx.Inputs = append(tx.Inputs, in)
	}
	for i := 0; i < nOut; i++ {
		tx.Outputs = append(tx.Outputs, TxOut{Value: r.Uint64() % MaxMoney, Address: Address{byte(i)}})
	}
	return tx
}

func TestTxRoundTripAndTxIDIgnoresSignature(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	tx := testTx(r, 3, 2)
	got, err := DecodeTx(tx.Bytes())
	if err != nil || !bytes.Equal(got.Bytes(), tx.Bytes()) {
		t.Fatalf("round trip: %v", err)
	}
	if len(tx.Bytes()) != tx.SerializeSize() {
		t.Fatalf("SerializeSize %d, encoding %d", tx.SerializeSize(), len(tx.Bytes()))
	}
	id, full := tx.TxID(), tx.Hash()
	tx.Inputs[0].Signature[5] ^= 1
	if tx.TxID() != id {
		t.Error("txid changed with the signature")
	}
	if tx.Hash() == full {
		t.Error("full hash ignores the signature")
	}
}

func TestSignVerify(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	tx := &Tx{Version: TxVersion, Inputs: []TxIn{{PrevOut: OutPoint{TxID: Hash{1}}}}, Outputs: []TxOut{{Value: 5}}}
	gen := Hash{7}
	if err := SignTx(tx, []ed25519.PrivateKey{priv}, []uint64{10}, gen); err != nil {
		t.Fatal(err)
	}
	addr := AddressOf(priv.Public().(ed25519.PublicKey))
	cases := []struct {
		name  string
		value uint64
		gen   Hash
		addr  Address
		kind  error
	}{
		{"valid", 10, gen, addr, nil},
		{"wrong amount", 11, gen, addr, ErrBadSignature},
		{"other network", 10, Hash{8}, addr, ErrBadSignature},
		{"wrong address", 10, gen, Address{1}, ErrWrongKey},
	}
	for _, c := range cases {
		err := VerifyInput(tx, 0, SigHash(tx, []uint64{c.value}, c.gen), c.addr)
		if (c.kind == nil) != (err == nil) || (c.kind != nil && !errors.Is(err, c.kind)) {
			t.Errorf("%s: got %v want %v", c.name, err, c.kind)
		}
	}
}

func TestAddressString(t *testing.T) {
	a := Address{0xde, 0xad, 0xbe, 0xef}
	s := EncodeAddress("gcdev", a)
	if got, err := DecodeAddress("gcdev", s); err != nil || got != a {
		t.Fatalf("round trip %q: %v", s, err)
	}
	bad := []struct{ name, s string }{
		{"other network", EncodeAddress("gc", a)},
		{"typo", s[:10] + "0" + s[11:]},
		{"short", s[:len(s)-1]},
		{"upper", "gcdev1" + string(bytes.ToUpper([]byte(s[6:])))},
		{"garbage", "gcdev1zz"},
	}
	for _, c := range bad {
		if _, err := DecodeAddress("gcdev", c.s); !errors.Is(err, ErrBadAddress) {
			t.Errorf("%s (%q): got %v, want ErrBadAddress", c.name, c.s, err)
		}
	}
}

func TestBlockRoundTripAndCaps(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	blk := &Block{Header: testHeader(r), Txs: []*Tx{testTx(r, 1, 1), testTx(r, 2, 2)}, Contributions: [][]byte{{1, 2, 3}, {4}}}
	raw := blk.Bytes()
	if len(raw) != blk.SerializeSize() {
		t.Fatalf("SerializeSize %d, encoding %d", blk.SerializeSize(), len(raw))
	}
	got, err := DecodeBlock(raw)
	if err != nil || !bytes.Equal(got.Bytes(), raw) {
		t.Fatalf("round trip: %v", err)
	}
	huge := append(blk.Header.Bytes(), 0xff, 0xff, 0xff, 0x7f)
	if _, err := DecodeBlock(huge); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge tx count: %v", err)
	}
	lying := append(blk.Header.Bytes(), 100, 0, 0, 0)
	if _, err := DecodeBlock(lying); !errors.Is(err, ErrTruncated) {
		t.Errorf("count above remaining bytes: %v", err)
	}
	if _, err := DecodeBlock(append(raw, 0)); !errors.Is(err, ErrTrailingData) {
		t.Errorf("trailing byte: %v", err)
	}
}
