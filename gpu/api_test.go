package gpu

import (
	"bytes"
	"errors"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTwinAPI checks that the cuda build and the default build export the
// same API: the exported declarations of the files tagged `cuda` and of
// those tagged `!cuda` must match (untagged files are shared).
func TestTwinAPI(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	api := map[bool][]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		expr := buildExpr(f)
		if expr == nil {
			continue // shared by both builds
		}
		cuda := expr.Eval(func(tag string) bool { return tag == "gccuda" })
		noCUDA := expr.Eval(func(tag string) bool { return false })
		if cuda == noCUDA {
			t.Fatalf("%s: constraint %q does not split on cuda", name, expr)
		}
		api[cuda] = append(api[cuda], exported(fset, f)...)
	}
	slices.Sort(api[true])
	slices.Sort(api[false])
	for _, d := range api[true] {
		if _, ok := slices.BinarySearch(api[false], d); !ok {
			t.Errorf("cuda build only: %s", d)
		}
	}
	for _, d := range api[false] {
		if _, ok := slices.BinarySearch(api[true], d); !ok {
			t.Errorf("default build only: %s", d)
		}
	}
	if len(api[true]) < 30 {
		t.Errorf("only %d exported declarations in cuda files: parser out of step?", len(api[true]))
	}
}

func buildExpr(f *ast.File) constraint.Expr {
	for _, cg := range f.Comments {
		if cg.Pos() > f.Package {
			break
		}
		for _, c := range cg.List {
			if constraint.IsGoBuild(c.Text) {
				e, err := constraint.Parse(c.Text)
				if err == nil {
					return e
				}
			}
		}
	}
	return nil
}

// exported lists a file's exported declarations as comparable strings:
// functions and methods by their types (parameter names dropped), types by
// their exported fields, vars and consts by name.
func exported(fset *token.FileSet, f *ast.File) []string {
	str := func(n any) string {
		var b bytes.Buffer
		if err := printer.Fprint(&b, fset, n); err != nil {
			panic(err)
		}
		return b.String()
	}
	var out []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			sig := "func "
			if d.Recv != nil {
				recv := str(d.Recv.List[0].Type)
				if !ast.IsExported(strings.TrimPrefix(recv, "*")) {
					continue // method of an unexported type
				}
				sig += "(" + recv + ") "
			}
			ft := *d.Type
			ft.Params = unnamed(ft.Params)
			ft.Results = unnamed(ft.Results)
			out = append(out, sig+d.Name.Name+strings.TrimPrefix(str(&ft), "func"))
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					desc := "type " + s.Name.Name
					if st, ok := s.Type.(*ast.StructType); ok {
						desc += " struct{"
						for _, fld := range st.Fields.List {
							for _, n := range fld.Names {
								if n.IsExported() {
									desc += n.Name + " " + str(fld.Type) + ";"
								}
							}
						}
						desc += "}"
					} else {
						desc += " " + str(s.Type)
					}
					out = append(out, desc)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							out = append(out, d.Tok.String()+" "+n.Name)
						}
					}
				}
			}
		}
	}
	return out
}

// unnamed drops parameter names, keeping one entry per parameter.
func unnamed(fl *ast.FieldList) *ast.FieldList {
	if fl == nil {
		return nil
	}
	out := &ast.FieldList{}
	for _, f := range fl.List {
		n := max(len(f.Names), 1)
		for range n {
			out.List = append(out.List, &ast.Field{Type: f.Type})
		}
	}
	return out
}

// TestErrorsIs checks the error kinds wrap as documented.
func TestErrorsIs(t *testing.T) {
	de := driverErr("cuMemAlloc", errors.New("out of memory"))
	if !errors.Is(de, ErrDriver) {
		t.Error("DriverError is not ErrDriver")
	}
	var target *DriverError
	if !errors.As(de, &target) || target.Op != "cuMemAlloc" {
		t.Error("errors.As DriverError")
	}
	if !strings.Contains(de.Error(), "cuMemAlloc") || !strings.Contains(de.Error(), "out of memory") {
		t.Errorf("message %q", de)
	}
	if driverErr("x", nil) != nil {
		t.Error("nil driver error not nil")
	}
	if err := invalid("n=%d", 3); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "n=3") {
		t.Errorf("invalid: %v", err)
	}
}
