//go:build !gccuda

package gpu

import (
	"errors"
	"testing"
)

// Without the cuda tag every device entry point fails with ErrNoCUDA and
// the pure-Go parts still work.
func TestNoCUDA(t *testing.T) {
	if Available() {
		t.Fatal("Available in the default build")
	}
	if _, err := Devices(); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("Devices: %v", err)
	}
	c, err := NewContext(0)
	if !errors.Is(err, ErrNoCUDA) || c != nil {
		t.Errorf("NewContext: %v", err)
	}
	if _, err := NewSearcher(nil, SearchOptions{}); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("NewSearcher: %v", err)
	}
	if _, err := NewSearcher(nil, SearchOptions{BlockSize: 7}); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewSearcher with bad options: %v", err)
	}
	var s *Searcher
	if _, err := s.Search(Job{}, 0, 1, nil); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("Search: %v", err)
	}
	if err := SelfTest(nil); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("SelfTest: %v", err)
	}
	if err := c.Do(func() error { return nil }); !errors.Is(err, ErrNoCUDA) {
		t.Errorf("Do: %v", err)
	}
}
