package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/net/internal/nettest"
)

func testHash(b byte) chain.Hash {
	var h chain.Hash
	for i := range h {
		h[i] = b + byte(i)
	}
	return h
}

func testCoinbase() *chain.Tx {
	return &chain.Tx{
		Version: chain.TxVersion,
		Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{Index: chain.CoinbaseIndex}}},
		Outputs: []chain.TxOut{{Value: 50 * chain.AtomsPerCoin, Address: chain.Address{1, 2, 3}}},
		Payload: []byte{7, 0, 0, 0, 0, 0, 0, 0},
	}
}

func testTx() *chain.Tx {
	return &chain.Tx{
		Version: chain.TxVersion,
		Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{TxID: testHash(9), Index: 1}}},
		Outputs: []chain.TxOut{{Value: 5, Address: chain.Address{4}}, {Value: 6, Address: chain.Address{5}}},
	}
}

func testBlock(nTx, nContrib int) *chain.Block {
	b := &chain.Block{Header: chain.Header{Version: chain.HeaderVersion, Height: 7, PrevBlock: testHash(1), Timestamp: 1767225600, Bits: 0x2000ffff}}
	b.Txs = append(b.Txs, testCoinbase())
	for i := range nTx {
		tx := testTx()
		tx.Inputs[0].PrevOut.Index = uint32(i)
		b.Txs = append(b.Txs, tx)
	}
	for i := range nContrib {
		b.Contributions = append(b.Contributions, bytes.Repeat([]byte{byte(i + 1)}, 100+i))
	}
	b.Header.TxRoot = chain.CalcTxRoot(b.Txs)
	b.Header.GradientRoot = chain.CalcGradientRoot(b.Contributions)
	return b
}

func TestCodecRoundTrip(t *testing.T) {
	c := DefaultCodec()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"one byte", []byte{42}},
		{"small", []byte("hello gradientcoin")},
		{"255 bytes", bytes.Repeat([]byte{1}, 255)},
		{"4 KiB zeros", make([]byte, 4096)},
		{"max frame", bytes.Repeat([]byte("abcdefgh"), MaxFrame/8)},
	} {
		z := c.Compress(nil, tc.data)
		got, err := c.Decompress(z, len(tc.data))
		if err != nil {
			t.Fatalf("%s: decompress: %v", tc.name, err)
		}
		if !bytes.Equal(got, tc.data) {
			t.Fatalf("%s: round trip differs", tc.name)
		}
		if len(tc.data) > 0 {
			if _, err := c.Decompress(z, len(tc.data)-1); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%s: limit one below the size: got %v, want ErrTooLarge", tc.name, err)
			}
		}
	}
}

// streamFrame returns a frame of n zero bytes made by a streaming encoder
// without our restrictions (big window, no declared content size).
func streamFrame(t testing.TB, n int, opts ...zstd.EOption) []byte {
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var buf bytes.Buffer
	w := io.Writer(&buf)
	enc.Reset(w)
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(zeros) {
		if _, err := enc.Write(zeros[:min(left, len(zeros))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCodecRejects(t *testing.T) {
	c := DefaultCodec()
	valid := c.Compress(nil, bytes.Repeat([]byte("x"), 2000))
	// A frame that lies about its content size: patch the single-segment
	// FCS field (2 bytes after the 5-byte magic+descriptor).
	liar := append([]byte(nil), valid...)
	binary.LittleEndian.PutUint16(liar[5:], 300-256) // declares 300 bytes, holds 2000
	concat := append(append([]byte(nil), c.Compress(nil, []byte("a"))...), c.Compress(nil, []byte("b"))...)
	streamed := streamFrame(t, 4<<20, zstd.WithWindowSize(8<<20))       // 4 MiB of zeros, streaming encoder
	smallStream := streamFrame(t, 10, zstd.WithWindowSize(1<<20))       // no content size in the header
	huge := c.Compress(nil, make([]byte, MaxFrame))                     // within MaxFrame, above a small limit
	skippable := []byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4} // skippable frame
	lyingBomb := nettest.RLEBomb(16<<20, true)                          // declares 1000 bytes (below), holds 16 MiB
	binary.LittleEndian.PutUint64(lyingBomb[5:], 1000)
	if len(nettest.RLEBomb(1<<30, false)) > CompressBound(MaxFrame) {
		t.Fatal("test bomb larger than expected")
	}
	for _, tc := range []struct {
		name  string
		in    []byte
		limit int
		kind  ErrorKind
	}{
		{"empty input", nil, 100, ErrCompression},
		{"garbage", []byte("not a zstd frame at all"), 100, ErrCompression},
		{"truncated frame", valid[:len(valid)/2], 4000, ErrCompression},
		{"header only", valid[:6], 4000, ErrCompression},
		{"lying content size", liar, 4000, ErrCompression},
		{"two frames", concat, 100, ErrCompression},
		{"streamed 4 MiB frame", streamed, MaxFrame, ErrCompression},
		{"RLE bomb declaring 1 GiB", nettest.RLEBomb(1<<30, true), MaxFrame, ErrTooLarge},
		{"RLE bomb without size", nettest.RLEBomb(1<<30, false), MaxFrame, ErrCompression},
		{"RLE bomb lying about size", lyingBomb, 1000, ErrCompression},
		{"no content size", smallStream, 100, ErrCompression},
		{"above the caller's limit", huge, 1000, ErrTooLarge},
		{"compressed input above bound", make([]byte, CompressBound(100)+1), 100, ErrTooLarge},
		{"skippable frame", skippable, 100, ErrCompression},
	} {
		out, err := c.Decompress(tc.in, tc.limit)
		if !errors.Is(err, tc.kind) {
			t.Fatalf("%s: got (%d bytes, %v), want %s", tc.name, len(out), err, tc.kind)
		}
	}
}

func TestCodecBombMemory(t *testing.T) {
	// A 1 GiB-of-zeros frame that declares its size costs nothing: the
	// declared size is checked before anything is decoded.
	c := DefaultCodec()
	for _, tc := range []struct {
		name  string
		frame []byte
		limit int
	}{
		{"declares 1 GiB", nettest.RLEBomb(1<<30, true), MaxFrame},
		{"declares 16 EiB", nettest.RLEBomb(1<<30, true), MaxFrame},
		{"lies: declares 1 KiB", func() []byte {
			b := nettest.RLEBomb(1<<28, true)
			binary.LittleEndian.PutUint64(b[5:], 1024)
			return b
		}(), MaxFrame},
	} {
		if tc.name == "declares 16 EiB" {
			binary.LittleEndian.PutUint64(tc.frame[5:], 1<<64-1)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if out, err := c.Decompress(tc.frame, tc.limit); err == nil {
			t.Fatalf("%s: decompressed %d bytes", tc.name, len(out))
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
			t.Fatalf("%s: allocated %d bytes", tc.name, grew)
		}
	}
}

func TestCompactBlockRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name            string
		txs, contribs   int
		wantHeaderOnly  bool
		wantTxIDs, want int
	}{
		{"coinbase only", 0, 0, false, 0, 0},
		{"txs and contributions", 5, 3, false, 5, 3},
		{"too many txs", MaxCompactTxIDs + 1, 0, true, 0, 0},
	} {
		b := testBlock(tc.txs, tc.contribs)
		cb := NewCompactBlock(b)
		if cb.HeaderOnly() != tc.wantHeaderOnly || len(cb.TxIDs) != tc.wantTxIDs || len(cb.Contributions) != tc.want {
			t.Fatalf("%s: header-only %v, %d txids, %d contributions", tc.name, cb.HeaderOnly(), len(cb.TxIDs), len(cb.Contributions))
		}
		raw := cb.Bytes()
		if len(raw) != cb.encodedSize() {
			t.Fatalf("%s: encodedSize %d, Bytes %d", tc.name, cb.encodedSize(), len(raw))
		}
		got, err := DecodeCompactBlock(raw)
		if err != nil {
			t.Fatalf("%s: decode: %v", tc.name, err)
		}
		if !bytes.Equal(got.Bytes(), raw) {
			t.Fatalf("%s: re-encoding differs", tc.name)
		}
		if got.Header != b.Header {
			t.Fatalf("%s: header differs", tc.name)
		}
		for i, ref := range got.Contributions {
			if ref.Hash != chain.ContributionHash(b.Contributions[i]) || int(ref.Size) != len(b.Contributions[i]) {
				t.Fatalf("%s: contribution ref %d wrong", tc.name, i)
			}
		}
	}
}

func TestDecodersReject(t *testing.T) {
	cb := NewCompactBlock(testBlock(2, 2)).Bytes()
	notCoinbase := NewCompactBlock(testBlock(1, 0))
	notCoinbase.Coinbase = testTx()
	badVersion := append([]byte{2}, cb[1:]...)
	badFlags := append([]byte(nil), cb...)
	badFlags[1+chain.HeaderSize] = 0x80
	hugeCount := append([]byte(nil), cb[:1+chain.HeaderSize+1]...)
	hugeCount = binary.LittleEndian.AppendUint32(hugeCount, 0xffffffff)
	zeroSize := NewCompactBlock(testBlock(0, 1))
	zeroSize.Contributions[0].Size = 0
	bigSize := NewCompactBlock(testBlock(0, 1))
	bigSize.Contributions[0].Size = chain.MaxContributionBytes + 1
	ann := (&ContributionAnnounce{Parent: testHash(1), Hash: testHash(2), Size: 10}).Bytes()
	st := (&Status{Genesis: testHash(3), TipHeight: 5}).Bytes()
	hreq := (&HeadersRequest{Locator: []chain.Hash{testHash(1)}, Max: 10}).Bytes()
	zeroMax := (&HeadersRequest{Locator: []chain.Hash{testHash(1)}, Max: 0}).Bytes()
	noLocator := (&HeadersRequest{Max: 10}).Bytes()
	hs := EncodeHeaders([]chain.Header{{Height: 1}, {Height: 2}})
	dupHashes := EncodeHashes([]chain.Hash{testHash(1), testHash(1)})
	manifest := (&SnapManifest{Block: testHash(1), TotalSize: 10, ChunkSize: 4, Leaves: []chain.Hash{testHash(1), testHash(2), testHash(3)}}).Bytes()
	badManifest := (&SnapManifest{Block: testHash(1), TotalSize: 10, ChunkSize: 4, Leaves: []chain.Hash{testHash(1)}}).Bytes()
	zeroChunk := (&SnapManifest{Block: testHash(1), TotalSize: 10, ChunkSize: 0, Leaves: []chain.Hash{testHash(1)}}).Bytes()
	chunkReq := (&SnapChunkRequest{Block: testHash(1), Index: 3}).Bytes()
	bigIndex := (&SnapChunkRequest{Block: testHash(1), Index: MaxManifestLeaves}).Bytes()
	txsReq := (&BlockTxsRequest{Block: testHash(1), Indexes: []uint32{0, 2, 5}}).Bytes()
	txsUnordered := (&BlockTxsRequest{Block: testHash(1), Indexes: []uint32{2, 2}}).Bytes()
	txsBigIndex := (&BlockTxsRequest{Block: testHash(1), Indexes: []uint32{MaxCompactTxIDs}}).Bytes()
	txsNone := (&BlockTxsRequest{Block: testHash(1)}).Bytes()
	txsTooMany := binary.LittleEndian.AppendUint32(append([]byte{MessageVersion}, make([]byte, chain.HashSize)...), MaxCompactTxIDs+1)

	compact := func(b []byte) error { _, err := DecodeCompactBlock(b); return err }
	announce := func(b []byte) error { _, err := DecodeContributionAnnounce(b); return err }
	status := func(b []byte) error { _, err := DecodeStatus(b); return err }
	headersReq := func(b []byte) error { _, err := DecodeHeadersRequest(b); return err }
	headers := func(b []byte) error { _, err := DecodeHeaders(b, 1); return err }
	hashes := func(b []byte) error { _, err := DecodeHashes(b, 4); return err }
	snapManifest := func(b []byte) error { _, err := DecodeSnapManifest(b); return err }
	snapChunk := func(b []byte) error { _, err := DecodeSnapChunkRequest(b); return err }
	tx := func(b []byte) error { _, err := DecodeTxMsg(b); return err }
	blockTxs := func(b []byte) error { _, err := DecodeBlockTxsRequest(b); return err }

	for _, tc := range []struct {
		name   string
		decode func([]byte) error
		in     []byte
		kind   ErrorKind // "" means: must decode
	}{
		{"compact ok", compact, cb, ""},
		{"compact empty", compact, nil, ErrMalformed},
		{"compact truncated", compact, cb[:len(cb)-1], ErrMalformed},
		{"compact trailing", compact, append(append([]byte(nil), cb...), 0), ErrMalformed},
		{"compact version", compact, badVersion, ErrMalformed},
		{"compact flags", compact, badFlags, ErrMalformed},
		{"compact huge coinbase length", compact, hugeCount, ErrTooLarge},
		{"compact not coinbase", compact, notCoinbase.Bytes(), ErrMalformed},
		{"compact zero contribution size", compact, zeroSize.Bytes(), ErrTooLarge},
		{"compact oversized contribution", compact, bigSize.Bytes(), ErrTooLarge},
		{"announce ok", announce, ann, ""},
		{"announce truncated", announce, ann[:len(ann)-1], ErrMalformed},
		{"announce zero size", announce, (&ContributionAnnounce{Size: 0}).Bytes(), ErrTooLarge},
		{"status ok", status, st, ""},
		{"status trailing", status, append(append([]byte(nil), st...), 1), ErrMalformed},
		{"headers request ok", headersReq, hreq, ""},
		{"headers request max 0", headersReq, zeroMax, ErrTooLarge},
		{"headers request no locator", headersReq, noLocator, ErrMalformed},
		{"headers above max", headers, hs, ErrTooLarge},
		{"headers truncated", func(b []byte) error { _, err := DecodeHeaders(b, 0); return err }, hs[:len(hs)-3], ErrMalformed},
		{"hashes duplicate", hashes, dupHashes, ErrMalformed},
		{"hashes empty list", hashes, EncodeHashes(nil), ErrMalformed},
		{"hashes too many", hashes, EncodeHashes([]chain.Hash{testHash(1), testHash(2), testHash(3), testHash(4), testHash(5)}), ErrTooLarge},
		{"manifest ok", snapManifest, manifest, ""},
		{"manifest wrong leaf count", snapManifest, badManifest, ErrMalformed},
		{"manifest zero chunk", snapManifest, zeroChunk, ErrMalformed},
		{"chunk request ok", snapChunk, chunkReq, ""},
		{"chunk request index", snapChunk, bigIndex, ErrTooLarge},
		{"block txs request ok", blockTxs, txsReq, ""},
		{"block txs request not increasing", blockTxs, txsUnordered, ErrMalformed},
		{"block txs request index", blockTxs, txsBigIndex, ErrTooLarge},
		{"block txs request empty", blockTxs, txsNone, ErrMalformed},
		{"block txs request count", blockTxs, txsTooMany, ErrTooLarge},
		{"block txs request truncated", blockTxs, txsReq[:len(txsReq)-1], ErrMalformed},
		{"tx ok", tx, testTx().Bytes(), ""},
		{"tx truncated", tx, testTx().Bytes()[:20], ErrMalformed},
		{"tx oversized", tx, make([]byte, MaxTxSize+1), ErrTooLarge},
	} {
		err := tc.decode(tc.in)
		if tc.kind == "" {
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.kind) {
			t.Fatalf("%s: got %v, want %s", tc.name, err, tc.kind)
		}
		if KindOf(err) != tc.kind {
			t.Fatalf("%s: KindOf = %q", tc.name, KindOf(err))
		}
	}
}

func TestChainKindsWrapped(t *testing.T) {
	_, err := DecodeTxMsg([]byte{1, 0, 0})
	if !errors.Is(err, ErrMalformed) || !errors.Is(err, chain.ErrTruncated) {
		t.Fatalf("tx truncated: %v should match ErrMalformed and chain.ErrTruncated", err)
	}
}

func TestStatusWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *big.Int
		want *big.Int
	}{
		{"nil", nil, big.NewInt(0)},
		{"negative", big.NewInt(-5), big.NewInt(0)},
		{"small", big.NewInt(12345), big.NewInt(12345)},
		{"overflow", new(big.Int).Lsh(big.NewInt(1), 300), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))},
	} {
		var s Status
		s.SetWork(tc.in)
		got, err := DecodeStatus(s.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.Work().Cmp(tc.want) != 0 {
			t.Fatalf("%s: work %v, want %v", tc.name, got.Work(), tc.want)
		}
	}
}

func TestBlobStream(t *testing.T) {
	c := DefaultCodec()
	big := bytes.Repeat([]byte("0123456789abcdef"), (2*MaxFrame+1000)/16)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"small", []byte("payload")},
		{"multi-frame", big},
	} {
		var buf bytes.Buffer
		if err := c.WriteBlob(&buf, tc.data); err != nil {
			t.Fatalf("%s: write: %v", tc.name, err)
		}
		got, err := c.ReadBlob(&buf, len(tc.data))
		if err != nil || !bytes.Equal(got, tc.data) {
			t.Fatalf("%s: read: %v", tc.name, err)
		}
		buf.Reset()
		c.WriteBlob(&buf, tc.data)
		if len(tc.data) > 0 {
			if _, err := c.ReadBlob(&buf, len(tc.data)-1); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%s: under limit: %v", tc.name, err)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		status byte
		want   error
	}{
		{"not found", BlobNotFound, ErrNotFound},
		{"busy", BlobBusy, ErrBusy},
	} {
		var buf bytes.Buffer
		c.WriteBlobStatus(&buf, tc.status)
		if _, err := c.ReadBlob(&buf, 10); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
}

// TestReadBlobFunc: admit sees the declared size before any frame is
// read, and its error stops the read.
func TestReadBlobFunc(t *testing.T) {
	c := DefaultCodec()
	data := bytes.Repeat([]byte("x"), 3*MaxFrame/2)
	stop := errors.New("no room")
	for _, tc := range []struct {
		name    string
		admit   error
		wantErr error
	}{
		{"admitted", nil, nil},
		{"refused", stop, stop},
	} {
		var buf bytes.Buffer
		c.WriteBlob(&buf, data)
		total := buf.Len()
		seen := -1
		got, err := c.ReadBlobFunc(&buf, len(data), func(size int) error { seen = size; return tc.admit })
		if seen != len(data) {
			t.Fatalf("%s: admit saw %d, want %d", tc.name, seen, len(data))
		}
		if !errors.Is(err, tc.wantErr) || (err == nil && !bytes.Equal(got, data)) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.admit != nil && total-buf.Len() > 64 {
			t.Fatalf("%s: %d bytes read past the head", tc.name, total-buf.Len())
		}
	}
}

func TestStreamRejects(t *testing.T) {
	c := DefaultCodec()
	frame := func(raw []byte) []byte {
		var b bytes.Buffer
		c.WriteMsg(&b, raw)
		return b.Bytes()
	}
	head := func(status byte, size uint64) []byte {
		return frame(binary.LittleEndian.AppendUint64([]byte{status}, size))
	}
	bigLen := binary.LittleEndian.AppendUint32(nil, uint32(CompressBound(MaxFrame)+1))
	var short []byte
	short = append(short, head(BlobFound, 100)...)
	short = append(short, frame(make([]byte, 50))...)
	rle := nettest.RLEBomb(1<<30, true)
	bombStream := append(head(BlobFound, 100), binary.LittleEndian.AppendUint32(nil, uint32(len(rle)))...)
	bombStream = append(bombStream, rle...)
	var long []byte
	long = append(long, head(BlobFound, 10)...)
	long = append(long, frame(make([]byte, 50))...)
	for _, tc := range []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"empty stream", nil, 10, io.EOF},
		{"truncated length", []byte{1, 2}, 10, io.ErrUnexpectedEOF},
		{"length above bound", bigLen, MaxFrame, ErrTooLarge},
		{"body truncated", frame([]byte("abc"))[:6], 10, io.ErrUnexpectedEOF},
		{"declared size above max", head(BlobFound, 1<<40), 1 << 20, ErrTooLarge},
		{"unknown status", frame([]byte{9}), 10, ErrMalformed},
		{"short head", frame([]byte{BlobFound, 1, 2}), 10, ErrMalformed},
		{"not-found with trailing", frame([]byte{BlobNotFound, 1}), 10, ErrMalformed},
		{"frame shorter than declared", short, 100, ErrMalformed},
		{"frame longer than declared", long, 100, ErrTooLarge},
		{"bomb frame", bombStream, 100, ErrTooLarge},
	} {
		_, err := c.ReadBlob(bytes.NewReader(tc.in), tc.max)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestVerify(t *testing.T) {
	b := testBlock(2, 2)
	h := b.Hash()
	raw := b.Bytes()
	if _, err := DecodeBody(h, raw); err != nil {
		t.Fatalf("valid body: %v", err)
	}
	mutTx := testBlock(2, 2)
	mutTx.Txs[1].Outputs[0].Value++
	mutC := testBlock(2, 2)
	mutC.Contributions[0][0] ^= 1
	for _, tc := range []struct {
		name string
		b    *chain.Block
		want ErrorKind
	}{
		{"other block", testBlock(3, 0), ErrMismatch},
		{"mutated tx", mutTx, ErrMismatch},
		{"mutated contribution", mutC, ErrMismatch},
	} {
		if _, err := DecodeBody(h, tc.b.Bytes()); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	if _, err := DecodeBody(h, raw[:len(raw)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated body: %v", err)
	}
	if err := VerifyContribution(chain.ContributionHash([]byte("a")), []byte("b")); !errors.Is(err, ErrMismatch) {
		t.Fatalf("contribution mismatch: %v", err)
	}
}
