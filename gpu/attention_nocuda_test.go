//go:build !gccuda

package gpu

import (
	"errors"
	"testing"
)

func TestAttentionNoCUDA(t *testing.T) {
	if _, err := NewAttention(nil); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("NewAttention: %v", err)
	}
	var a *Attention
	good := AttnShape{B: 1, H: 1, T: 64, D: 64, Scale: 0.125}
	bad := AttnShape{B: 1, H: 1, T: 63, D: 64, Scale: 0.125}
	l := DenseAttnLayout(good)
	if err := a.Forward(nil, good, l, 16, 16, 16, 16, 16); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("Forward: %v", err)
	}
	if err := a.Forward(nil, bad, l, 16, 16, 16, 16, 16); !errors.Is(err, ErrInvalid) {
		t.Errorf("Forward with a bad shape: %v", err)
	}
	if err := a.Backward(nil, good, l, 16, 16, 16, AttnGrads{}); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("Backward: %v", err)
	}
	if err := a.ForwardPackedHost(good, nil, nil); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("ForwardPackedHost: %v", err)
	}
	if err := a.BackwardPackedHost(good, nil, nil, nil); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("BackwardPackedHost: %v", err)
	}
	if err := a.SelfTest(); !errors.Is(err, ErrNoCUDA) || !errors.Is(a.Close(), ErrNoCUDA) || a.Stream() != nil || a.Device() != (DeviceInfo{}) {
		t.Error("SelfTest, Close, accessors")
	}
}
