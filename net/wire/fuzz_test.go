package wire

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gradientcoin/gradientcoin/chain"
	"github.com/gradientcoin/gradientcoin/net/internal/nettest"
)

// Fuzz targets: one per decoder. Each checks that the decoder never
// panics, never returns a value together with an error, and that what it
// accepts re-encodes to the same bytes (canonical encodings). Seeds are in
// testdata/fuzz (regenerate with GC_WRITE_FUZZ_SEEDS=1 go test -run
// TestWriteFuzzSeeds ./net/wire).

func compactSeeds() [][]byte {
	return [][]byte{
		NewCompactBlock(testBlock(0, 0)).Bytes(),
		NewCompactBlock(testBlock(3, 2)).Bytes(),
		(&CompactBlock{Header: testBlock(0, 0).Header, Flags: FlagHeaderOnly}).Bytes(),
		{MessageVersion},
		nil,
	}
}

func FuzzDecodeCompactBlock(f *testing.F) {
	for _, s := range compactSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cb, err := DecodeCompactBlock(raw)
		if err != nil {
			if cb != nil {
				t.Fatal("value with error")
			}
			return
		}
		if !bytes.Equal(cb.Bytes(), raw) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func txSeeds() [][]byte { return [][]byte{testTx().Bytes(), testCoinbase().Bytes(), {1, 0, 0, 0}} }

func FuzzDecodeTxMsg(f *testing.F) {
	for _, s := range txSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := DecodeTxMsg(raw)
		if err == nil && !bytes.Equal(tx.Bytes(), raw) {
			t.Fatal("re-encoding differs")
		}
	})
}

func announceSeeds() [][]byte {
	return [][]byte{(&ContributionAnnounce{Parent: testHash(1), Hash: testHash(2), Size: 77}).Bytes(), {MessageVersion, 0}}
}

func FuzzDecodeContributionAnnounce(f *testing.F) {
	for _, s := range announceSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := DecodeContributionAnnounce(raw)
		if err == nil && !bytes.Equal(a.Bytes(), raw) {
			t.Fatal("re-encoding differs")
		}
	})
}

func statusSeeds() [][]byte {
	s := &Status{Genesis: testHash(1), TipHash: testHash(2), TipHeight: 99, SnapHash: testHash(3), SnapHeight: 50}
	s.TipWork[31] = 7
	return [][]byte{s.Bytes(), {MessageVersion}}
}

func FuzzDecodeStatus(f *testing.F) {
	for _, s := range statusSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := DecodeStatus(raw)
		if err == nil && !bytes.Equal(s.Bytes(), raw) {
			t.Fatal("re-encoding differs")
		}
	})
}

func headersRequestSeeds() [][]byte {
	return [][]byte{
		(&HeadersRequest{Locator: []chain.Hash{testHash(1), testHash(2)}, Stop: testHash(3), Max: 2000}).Bytes(),
		(&HeadersRequest{Locator: []chain.Hash{testHash(1)}, Max: 1}).Bytes(),
	}
}

func FuzzDecodeHeadersRequest(f *testing.F) {
	for _, s := range headersRequestSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		q, err := DecodeHeadersRequest(raw)
		if err == nil && !bytes.Equal(q.Bytes(), raw) {
			t.Fatal("re-encoding differs")
		}
	})
}

func headersSeeds() [][]byte {
	return [][]byte{EncodeHeaders(nil), EncodeHeaders([]chain.Header{testBlock(0, 0).Header, {Height: 9}})}
}

func FuzzDecodeHeaders(f *testing.F) {
	for _, s := range headersSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		hs, err := DecodeHeaders(raw, 0)
		if err == nil && !bytes.Equal(EncodeHeaders(hs), raw) {
			t.Fatal("re-encoding differs")
		}
	})
}

func hashesSeeds() [][]byte {
	return [][]byte{EncodeHashes([]chain.Hash{testHash(1)}), EncodeHashes([]chain.Hash{testHash(1), testHash(2), testHash(3)})}
}

func FuzzDecodeHashes(f *testing.F) {
	for _, s := range hashesSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		hs, err := DecodeHashes(raw, MaxBlocksPerRequest)
		if err == nil && !bytes.Equal(EncodeHashes(hs), raw) {
			t.Fatal("re-encoding differs")
		}
	})
}

func manifestSeeds() [][]byte {
	return [][]byte{
		(&SnapManifest{Block: testHash(1), TotalSize: 10, ChunkSize: 4, Leaves: []chain.Hash{testHash(1), testHash(2), testHash(3)}}).Bytes(),
		(&SnapManifest{Block: testHash(1), TotalSize: 4, ChunkSize: 4, Leaves: []chain.Hash{testHash(1)}}).Bytes(),
	}
}

func FuzzDecodeSnapManifest(f *testing.F) {
	for _, s := range manifestSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := DecodeSnapManifest(raw)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Bytes(), raw) {
			t.Fatal("re-encoding differs")
		}
		total := 0
		for i := range m.Leaves {
			total += m.ChunkLen(i)
		}
		if uint64(total) != m.TotalSize {
			t.Fatalf("chunks add up to %d, manifest says %d", total, m.TotalSize)
		}
	})
}

func chunkRequestSeeds() [][]byte {
	return [][]byte{(&SnapChunkRequest{Block: testHash(4), Index: 12}).Bytes()}
}

func FuzzDecodeSnapChunkRequest(f *testing.F) {
	for _, s := range chunkRequestSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		q, err := DecodeSnapChunkRequest(raw)
		if err == nil && !bytes.Equal(q.Bytes(), raw) {
			t.Fatal("re-encoding differs")
		}
	})
}

func blockTxsRequestSeeds() [][]byte {
	return [][]byte{
		(&BlockTxsRequest{Block: testHash(5), Indexes: []uint32{0}}).Bytes(),
		(&BlockTxsRequest{Block: testHash(6), Indexes: []uint32{1, 7, 29_999}}).Bytes(),
	}
}

func FuzzDecodeBlockTxsRequest(f *testing.F) {
	for _, s := range blockTxsRequestSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		q, err := DecodeBlockTxsRequest(raw)
		if err != nil {
			if KindOf(err) == "" {
				t.Fatalf("error without a wire kind: %v", err)
			}
			return
		}
		if !bytes.Equal(q.Bytes(), raw) {
			t.Fatal("re-encoding differs")
		}
		for k, i := range q.Indexes {
			if i >= MaxCompactTxIDs || k > 0 && i <= q.Indexes[k-1] {
				t.Fatalf("accepted indexes %v", q.Indexes)
			}
		}
	})
}

func decompressSeeds() [][]byte {
	c := DefaultCodec()
	return [][]byte{
		c.Compress(nil, nil),
		c.Compress(nil, []byte("gradientcoin")),
		c.Compress(nil, bytes.Repeat([]byte{1, 2, 3}, 1000)),
		nettest.RLEBomb(1<<20, true),
		nettest.RLEBomb(4096, false),
	}
}

func FuzzDecompress(f *testing.F) {
	for _, s := range decompressSeeds() {
		f.Add(s, uint32(4096))
	}
	c := DefaultCodec()
	f.Fuzz(func(t *testing.T, z []byte, limit uint32) {
		lim := int(limit % (MaxFrame + 1))
		out, err := c.Decompress(z, lim)
		if err == nil && len(out) > lim {
			t.Fatalf("decoded %d bytes above the limit %d", len(out), lim)
		}
	})
}

func blobSeeds() [][]byte {
	c := DefaultCodec()
	var a, b, d bytes.Buffer
	c.WriteBlob(&a, []byte("a block body"))
	c.WriteBlobStatus(&b, BlobNotFound)
	c.WriteBlob(&d, bytes.Repeat([]byte{9}, 5000))
	return [][]byte{a.Bytes(), b.Bytes(), d.Bytes()}
}

func FuzzReadBlob(f *testing.F) {
	for _, s := range blobSeeds() {
		f.Add(s)
	}
	c := DefaultCodec()
	f.Fuzz(func(t *testing.T, stream []byte) {
		out, err := c.ReadBlob(bytes.NewReader(stream), 8192)
		if err == nil && len(out) > 8192 {
			t.Fatalf("blob of %d bytes above the limit", len(out))
		}
	})
}

// TestWriteFuzzSeeds writes the seed corpora under testdata/fuzz when
// GC_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("GC_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set GC_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz seeds")
	}
	write := func(target string, i int, body string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte("go test fuzz v1\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bs := func(b []byte) string { return fmt.Sprintf("[]byte(%q)\n", b) }
	for target, seeds := range map[string][][]byte{
		"FuzzDecodeCompactBlock":         compactSeeds(),
		"FuzzDecodeTxMsg":                txSeeds(),
		"FuzzDecodeContributionAnnounce": announceSeeds(),
		"FuzzDecodeStatus":               statusSeeds(),
		"FuzzDecodeHeadersRequest":       headersRequestSeeds(),
		"FuzzDecodeHeaders":              headersSeeds(),
		"FuzzDecodeHashes":               hashesSeeds(),
		"FuzzDecodeSnapManifest":         manifestSeeds(),
		"FuzzDecodeSnapChunkRequest":     chunkRequestSeeds(),
		"FuzzDecodeBlockTxsRequest":      blockTxsRequestSeeds(),
		"FuzzReadBlob":                   blobSeeds(),
	} {
		for i, s := range seeds {
			write(target, i, bs(s))
		}
	}
	for i, s := range decompressSeeds() {
		write("FuzzDecompress", i, bs(s)+"uint32(4096)\n")
	}
}
