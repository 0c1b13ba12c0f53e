//go:build !gccuda

package gpu

import (
	"errors"
	"testing"
)

// Without the gccuda tag the softmax entry points validate their shape and
// then fail with ErrNoCUDA.
func TestSoftmaxNoCUDA(t *testing.T) {
	if _, err := NewSoftmax(nil); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("NewSoftmax: %v", err)
	}
	var s *Softmax
	good := SoftmaxShape{Rows: 2, Cols: 3, Scale: 1}
	bad := SoftmaxShape{Rows: 0, Cols: 3, Scale: 1}
	if err := s.Forward(nil, good, 1, 1, 0); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("Forward: %v", err)
	}
	if err := s.Forward(nil, bad, 1, 1, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Forward with a bad shape: %v", err)
	}
	if err := s.Backward(nil, good, 1, 1, 1); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("Backward: %v", err)
	}
	if err := s.ForwardHost(good, nil, nil, nil); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("ForwardHost: %v", err)
	}
	if err := s.BackwardHost(good, nil, nil, nil); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("BackwardHost: %v", err)
	}
	if err := s.SelfTest(); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("SelfTest: %v", err)
	}
	if s.Stream() != nil || s.Device() != (DeviceInfo{}) || !errors.Is(s.Close(), ErrNoCUDA) {
		t.Error("accessors")
	}
}
