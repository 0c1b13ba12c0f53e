package kernels

// Sketch modules (gpu/sketch*.go and gpu/apply.go launch them; their entry
// points and parameter structs are listed in gpu/sketch_params.go). The
// consensus ones (all but Sketch) are built with -fmad=false, named in their
// sources' "// nvcc-flags:" line.
const (
	// Sketch: the worker's forward sketch y = S·x (sketch.cu).
	Sketch = "sketch"
	// Desketch: consensus de-sketch of the sparse families, Gaussian and
	// AMS, and the count-sketch median estimate (desketch.cu).
	Desketch = "desketch"
	// FWHT: Walsh–Hadamard transform passes and the SRHT around them (fwht.cu).
	FWHT = "fwht"
	// TopK: exact top-k selection (topk.cu).
	TopK = "topk"
	// Quant: payload quantization, Apply's aggregate, error feedback (quant.cu).
	Quant = "quant"
	// Apply: the weight update and the state root's leaf hashes (apply.cu).
	Apply = "apply"
)
