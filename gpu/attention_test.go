package gpu

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gradientcoin/gradientcoin/kernels"
)

// TestAttentionPlans: every planned entry point is in its fatbin, shared
// memory fits a block (227 KiB on sm_90, 163 KiB on sm_80), grids cover T.
func TestAttentionPlans(t *testing.T) {
	images := map[string]string{}
	for _, m := range []string{kernels.AttentionFwd, kernels.AttentionBwd} {
		b, err := kernels.Fatbin(m)
		if err != nil {
			t.Fatal(err)
		}
		images[m] = string(b)
	}
	for _, d := range []int{32, 64, 128} {
		for _, causal := range []bool{false, true} {
			sh := AttnShape{B: 3, H: 5, T: 512, D: d, Scale: 0.1, Causal: causal}
			if !AttentionFits(sh) {
				t.Fatalf("%+v does not fit", sh)
			}
			for _, pr := range []*attnProgram{attnDenseProgram(sh, false), attnDenseProgram(sh, true), attnPackedForward(sh), attnPackedBackward(sh)} {
				for _, st := range pr.steps {
					l := st.l
					if !strings.Contains(images[l.module], l.name+"\x00") {
						t.Errorf("%s is not in %s.fatbin", l.name, l.module)
					}
					if l.smem > 163<<10 {
						t.Errorf("%s: %d bytes of shared memory", l.name, l.smem)
					}
					if strings.Contains(l.name, "_fwd_") || strings.Contains(l.name, "_dq_") || strings.Contains(l.name, "_dkdv_") {
						if l.gridX*attnBlockRows != sh.T || l.gridY != sh.B*sh.H || l.block != attnThreads {
							t.Errorf("%s: grid %dx%d block %d", l.name, l.gridX, l.gridY, l.block)
						}
					}
				}
			}
		}
	}
	for _, sh := range []AttnShape{
		{B: 1, H: 1, T: 100, D: 64, Scale: 1}, {B: 1, H: 1, T: 0, D: 64, Scale: 1},
		{B: 1, H: 1, T: 128, D: 48, Scale: 1}, {B: 0, H: 1, T: 128, D: 64, Scale: 1},
		{B: 300, H: 300, T: 128, D: 64, Scale: 1}, {B: 1, H: 1, T: 128, D: 64, Scale: float32(math.NaN())},
	} {
		if err := sh.validate(); !errors.Is(err, ErrInvalid) || AttentionFits(sh) {
			t.Errorf("%+v: %v, want ErrInvalid", sh, err)
		}
	}
	bad := DenseAttnLayout(AttnShape{B: 1, H: 1, T: 64, D: 64})
	bad.Out.Token = 12
	if err := bad.validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("stride 12: %v", err)
	}
	if l := PackedAttnLayout(AttnShape{B: 2, H: 3, T: 64, D: 32}); l.In.Token != 288 || l.Out.Token != 96 || l.In.Head != 32 || l.In.Batch != 64*288 || !l.OutF32 {
		t.Errorf("packed layout %+v", l)
	}
}

// TestAttentionParamsLayout pins the parameter block to struct AttnParams.
func TestAttentionParamsLayout(t *testing.T) {
	sh := AttnShape{B: 2, H: 3, T: 128, D: 64, Scale: 0.125, Causal: true}
	l := AttnLayout{In: AttnStrides{1, 2, 3}, Out: AttnStrides{4, 5, 6}, Grad: AttnStrides{7, 8, 9}}
	p := attnPtrs{q: 11, k: 12, v: 13, o: 14, lse: 15, dout: 16, delta: 17, dq: 18, dk: 19, dv: 20, src: 21, dst: 22, n: 23}
	b := attnParams(sh, l, p)
	le := binary.LittleEndian
	for i := 0; i < 10; i++ {
		if le.Uint64(b[8*i:]) != uint64(11+i) {
			t.Errorf("pointer %d", i)
		}
		if attnPtrMask>>i&1 != 1 {
			t.Errorf("pointer %d not in the mask", i)
		}
	}
	for i := 0; i < 9; i++ {
		if le.Uint64(b[80+8*i:]) != uint64(1+i) {
			t.Errorf("stride %d", i)
		}
	}
	if le.Uint32(b[152:]) != 2 || le.Uint32(b[156:]) != 3 || le.Uint32(b[160:]) != 128 || le.Uint32(b[164:]) != 1 {
		t.Error("B, H, T, causal")
	}
	if math.Float32frombits(le.Uint32(b[168:])) != 0.125 || math.Float32frombits(le.Uint32(b[172:])) != float32(0.125*math.Log2E) {
		t.Error("scales")
	}
	if le.Uint64(b[176:]) != 23 || le.Uint64(b[184:]) != 21 || le.Uint64(b[192:]) != 22 || attnPtrMask>>23&3 != 3 {
		t.Error("conversion fields")
	}
}

// TestAttentionReferences: the forward reference against a direct
// softmax(QKᵀ)V through the softmax reference, and the backward reference
// against central differences of ⟨dO, O(Q, K, V)⟩.
func TestAttentionReferences(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, causal := range []bool{false, true} {
		sh := AttnShape{B: 1, H: 2, T: 5, D: 3, Scale: 0.6, Causal: causal}
		q, k, v, do := attnInputs(r, sh)
		n := int(sh.rows()) * sh.D
		o := make([]float32, n)
		lse := make([]float32, sh.rows())
		AttentionForwardReference(o, lse, q, k, v, sh)
		for bh := 0; bh < sh.B*sh.H; bh++ {
			s := make([]float32, sh.T*sh.T)
			for i := 0; i < sh.T; i++ {
				for j := 0; j < sh.T; j++ {
					for d := 0; d < sh.D; d++ {
						s[i*sh.T+j] += q[(bh*sh.T+i)*sh.D+d] * k[(bh*sh.T+j)*sh.D+d]
					}
				}
			}
			p := make([]float32, len(s))
			plse := make([]float32, sh.T)
			SoftmaxForwardReference(p, s, plse, SoftmaxShape{Rows: sh.T, Cols: sh.T, Scale: sh.Scale, Causal: causal})
			for i := 0; i < sh.T; i++ {
				if math.Abs(float64(plse[i]-lse[bh*sh.T+i])) > 1e-5 {
					t.Fatalf("lse[%d,%d] = %v, softmax reference %v", bh, i, lse[bh*sh.T+i], plse[i])
				}
				for d := 0; d < sh.D; d++ {
					var want float64
					for j := 0; j < sh.T; j++ {
						want += float64(p[i*sh.T+j]) * float64(v[(bh*sh.T+j)*sh.D+d])
					}
					if got := o[(bh*sh.T+i)*sh.D+d]; math.Abs(float64(got)-want) > 1e-5 {
						t.Fatalf("o[%d,%d,%d] = %v, want %v", bh, i, d, got, want)
					}
				}
			}
		}
		dq, dk, dv := make([]float32, n), make([]float32, n), make([]float32, n)
		AttentionBackwardReference(dq, dk, dv, q, k, v, do, sh)
		obj := func(q, k, v []float32) float64 {
			o := make([]float32, n)
			AttentionForwardReference(o, make([]float32, sh.rows()), q, k, v, sh)
			var s float64
			for i := range o {
				s += float64(o[i]) * float64(do[i])
			}
			return s
		}
		for which, g := range [][]float32{dq, dk, dv} {
			for i := 0; i < n; i += 2 {
				const h = 1e-2
				in := [][]float32{slices.Clone(q), slices.Clone(k), slices.Clone(v)}
				in[which][i] += h
				up := obj(in[0], in[1], in[2])
				in[which][i] -= 2 * h
				down := obj(in[0], in[1], in[2])
				num := (up - down) / (2 * h)
				if math.Abs(num-float64(g[i])) > 2e-3*math.Max(1, math.Abs(num)) {
					t.Fatalf("causal=%v: gradient %d[%d] = %v, central difference %v", causal, which, i, g[i], num)
				}
			}
		}
	}
}

func TestAttentionPacking(t *testing.T) {
	sh := AttnShape{B: 2, H: 3, T: 4, D: 5}
	r := rand.New(rand.NewPCG(3, 3))
	q, k, v, _ := attnInputs(r, sh)
	q2, k2, v2 := unpackQKV(packQKV(q, k, v, sh), sh)
	if !slices.Equal(q, q2) || !slices.Equal(k, k2) || !slices.Equal(v, v2) || !slices.Equal(unpackY(packY(q, sh), sh), q) {
		t.Fatal("pack/unpack round trip")
	}
	if (AttnShape{B: 2, H: 4, T: 128, D: 64, Causal: true}).attnFLOPs() != 2*4*128*128*64*2 {
		t.Error("attnFLOPs")
	}
}
