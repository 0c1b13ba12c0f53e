package sketch

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func qcfg(bits, rows, block int) Config {
	return Config{Family: CountSketch, Rows: rows, NNZ: 1, QuantBits: bits, QuantBlock: block}
}

func TestQuantizeRoundTrip(t *testing.T) {
	cases := []struct {
		name             string
		bits, rows, blck int
	}{
		{"f32", 32, 100, 0},
		{"int8 block 16", 8, 100, 16},
		{"int8 one block", 8, 100, 100},
		{"int8 block 1", 8, 7, 1},
		{"int4 odd rows", 4, 101, 16},
		{"int4 even rows", 4, 64, 7},
	}
	for _, c := range cases {
		cfg := qcfg(c.bits, c.rows, c.blck)
		y := testVec(c.rows, uint64(c.rows))
		y[3] = 0
		p, err := Quantize(cfg, y)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(p) != PayloadSize(cfg) {
			t.Fatalf("%s: payload %d bytes, want %d", c.name, len(p), PayloadSize(cfg))
		}
		if err := CheckPayload(cfg, p); err != nil {
			t.Fatalf("%s: own payload not canonical: %v", c.name, err)
		}
		got := make([]float32, c.rows)
		if err := Dequantize(cfg, got, p); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i := range y {
			bs := c.blck
			if bs == 0 {
				bs = c.rows
			}
			var amax float64
			for _, v := range y[i/bs*bs : min(i/bs*bs+bs, c.rows)] {
				amax = math.Max(amax, math.Abs(float64(v)))
			}
			tol := 0.0
			if c.bits != 32 {
				tol = amax/qmax(c.bits)*0.5 + 1e-7
			}
			if math.Abs(float64(got[i]-y[i])) > tol {
				t.Errorf("%s: value %d: %v → %v, error above half a step %v", c.name, i, y[i], got[i], tol)
			}
		}
		// DequantizeAdd onto +0 gives the same bits.
		acc := make([]float32, c.rows)
		if err := DequantizeAdd(cfg, acc, p); err != nil {
			t.Fatal(err)
		}
		if bitsHash(acc) != bitsHash(got) {
			t.Errorf("%s: DequantizeAdd onto zeros differs from Dequantize", c.name)
		}
	}
}

// TestQuantizeRounding pins round-half-even: with block max 127 the scale
// is exactly 1 and codes are the rounded values.
func TestQuantizeRounding(t *testing.T) {
	cfg := qcfg(8, 8, 8)
	y := []float32{127, 0.5, 1.5, 2.5, -0.5, -2.5, -3.5, 126.5}
	want := []int8{127, 0, 2, 2, 0, -2, -4, 126}
	p, err := Quantize(cfg, y)
	if err != nil {
		t.Fatal(err)
	}
	if s := math.Float32frombits(binary.LittleEndian.Uint32(p)); s != 1 {
		t.Fatalf("scale %v, want 1", s)
	}
	for i, w := range want {
		if got := int8(p[4+i]); got != w {
			t.Errorf("value %v: code %d, want %d (round half to even)", y[i], got, w)
		}
	}
	// int4 packing: low nibble first.
	cfg4 := qcfg(4, 3, 3)
	p4, _ := Quantize(cfg4, []float32{7, -7, 1})
	if p4[4] != 0x97 || p4[5] != 0x01 {
		t.Errorf("int4 codes % x, want 97 01", p4[4:])
	}
}

func TestPayloadRejects(t *testing.T) {
	le := binary.LittleEndian
	good8, _ := Quantize(qcfg(8, 4, 2), []float32{1, -1, 2, 0})
	good4, _ := Quantize(qcfg(4, 3, 4), []float32{1, -1, 2})
	mut := func(p []byte, f func([]byte)) []byte {
		q := append([]byte(nil), p...)
		f(q)
		return q
	}
	cases := []struct {
		name string
		cfg  Config
		p    []byte
		kind error
	}{
		{"short", qcfg(8, 4, 2), good8[:len(good8)-1], ErrPayload},
		{"long", qcfg(8, 4, 2), append(append([]byte(nil), good8...), 0), ErrPayload},
		{"int8 -128", qcfg(8, 4, 2), mut(good8, func(q []byte) { q[8] = 0x80 }), ErrPayload},
		{"negative scale", qcfg(8, 4, 2), mut(good8, func(q []byte) { q[3] |= 0x80 }), ErrPayload},
		{"negative zero scale", qcfg(8, 4, 2), mut(good8, func(q []byte) { le.PutUint32(q, 0x80000000) }), ErrPayload},
		{"zero scale nonzero code", qcfg(8, 4, 2), mut(good8, func(q []byte) { le.PutUint32(q, 0) }), ErrPayload},
		{"NaN scale", qcfg(8, 4, 2), mut(good8, func(q []byte) { le.PutUint32(q, 0x7fc00000) }), ErrNonFinite},
		{"Inf scale", qcfg(8, 4, 2), mut(good8, func(q []byte) { le.PutUint32(q, 0x7f800000) }), ErrNonFinite},
		{"overflow", qcfg(8, 4, 2), mut(good8, func(q []byte) { le.PutUint32(q, math.Float32bits(math.MaxFloat32)) }), ErrNonFinite},
		{"int4 -8", qcfg(4, 3, 4), mut(good4, func(q []byte) { q[4] = q[4]&0xf0 | 0x8 }), ErrPayload},
		{"int4 padding", qcfg(4, 3, 4), mut(good4, func(q []byte) { q[5] |= 0x10 }), ErrPayload},
		{"f32 NaN", qcfg(32, 2, 0), []byte{0, 0, 0x80, 0x3f, 0, 0, 0xc0, 0x7f}, ErrNonFinite},
		{"f32 -Inf", qcfg(32, 2, 0), []byte{0, 0, 0x80, 0xff, 0, 0, 0, 0}, ErrNonFinite},
		{"bad config", Config{}, nil, ErrBadConfig},
	}
	for _, c := range cases {
		err := Dequantize(c.cfg, make([]float32, max(c.cfg.Rows, 0)), c.p)
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: Dequantize = %v, want %v", c.name, err, c.kind)
		}
	}
	if err := Dequantize(qcfg(8, 4, 2), make([]float32, 3), good8); !errors.Is(err, ErrLength) {
		t.Errorf("short destination: %v", err)
	}
	if _, err := Quantize(qcfg(8, 4, 2), []float32{1, float32(math.NaN()), 0, 0}); !errors.Is(err, ErrNonFinite) {
		t.Errorf("quantize NaN: %v", err)
	}
	if _, err := Quantize(qcfg(8, 4, 2), []float32{1}); !errors.Is(err, ErrLength) {
		t.Errorf("quantize short: %v", err)
	}
	// Sum overflow in DequantizeAdd.
	big, _ := Quantize(qcfg(32, 1, 0), []float32{math.MaxFloat32})
	acc := []float32{math.MaxFloat32}
	if err := DequantizeAdd(qcfg(32, 1, 0), acc, big); !errors.Is(err, ErrNonFinite) {
		t.Errorf("overflowing sum: %v", err)
	}
}
