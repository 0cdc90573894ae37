package arch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/mpxdp/mpxdp"

// layers ranks every package of the module: a package may import module
// packages of a strictly lower rank only. Ranks are spaced so that a new
// layer can be slotted in. Keep docs/architecture.md in step.
var layers = []struct {
	pattern string // a package path relative to the module; "/..." matches a subtree
	rank    int
}{
	{"internal/...", 0},       // test and tooling utilities (pcap files, this test)
	{"cksum", 10},             // leaves
	{"ofo", 10},               //
	{"cflb", 10},              //
	{"mptcp/wire", 20},        // packet views, options, keys
	{"mptcp/cc", 20},          // congestion control (no packets)
	{"dataplane/mbox", 25},    // middlebox transforms on frames (dataplane/sim runs them)
	{"dataplane/sim", 30},     // protocol-agnostic simulator: carries IP packets between engines
	{"mptcp/tcp", 40},         // subflow TCP engine
	{"mptcp/tcp/tcptest", 45}, // a minimal TCP stack over the engine, for tests
	{"mptcp/sched", 50},       // connection-level policies
	{"mptcp/pm", 50},          //
	{"mptcp", 60},             // the MPTCP engine
	{"mptcp/mptcptest", 70},   // engine test harness over dataplane/sim
	{"xsk", 80},               // AF_XDP sockets
	{"dataplane/link", 82},    // the Link interface between the shard and the network
	{"dataplane/pipe", 85},    // runtime links: in-memory paths
	{"dataplane/afxdp", 88},   // runtime links: AF_XDP NICs
	{"dataplane", 90},         // the runtime around the engine
	{"", 100},                 // root package: the public API
	{"examples/...", 110},     // programs
	{"cmd/...", 110},          //
	{"bench/...", 110},        //
	{"interop/...", 110},      // interoperability tests against kernel MPTCP
}

// enginePrefixes are the sans-IO packages (ARCHITECTURE: "The protocol
// engine does no I/O").
var enginePrefixes = []string{"mptcp", "ofo", "cksum", "cflb"}

func isEngine(rel string) bool {
	for _, p := range enginePrefixes {
		if rel == p || strings.HasPrefix(rel, p+"/") {
			return true
		}
	}
	return false
}

func rankOf(rel string) (int, bool) {
	best, bestLen, found := 0, -1, false
	for _, l := range layers {
		match := false
		if sub, ok := strings.CutSuffix(l.pattern, "/..."); ok {
			match = rel == sub || strings.HasPrefix(rel, sub+"/")
		} else {
			match = rel == l.pattern
		}
		if match && len(l.pattern) > bestLen {
			best, bestLen, found = l.rank, len(l.pattern), true
		}
	}
	return best, found
}

// forbiddenImport reports why an engine package may not import path.
func forbiddenImport(path string) string {
	switch {
	case path == "sync" || strings.HasPrefix(path, "sync/"):
		return "locks and atomics belong to the runtime"
	case path == "math/rand":
		return "global randomness; take a random source as a parameter"
	case path == "net/netip":
		return ""
	case path == "net" || strings.HasPrefix(path, "net/"):
		return "network I/O"
	case path == "os" || strings.HasPrefix(path, "os/"):
		return "operating-system I/O"
	case path == "syscall", strings.HasPrefix(path, "golang.org/x/sys"):
		return "system calls"
	}
	return ""
}

// clockFuncs are the time package's functions that read or wait on the clock.
var clockFuncs = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
	"AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true,
}

type pkgFiles struct {
	rel   string
	files []*ast.File
	names []string
}

func loadPackages(t *testing.T) map[string]*pkgFiles {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	pkgs := map[string]*pkgFiles{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // a separate module (bench/anchors)
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		full, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		if rel == "." {
			rel = ""
		}
		p := pkgs[rel]
		if p == nil {
			p = &pkgFiles{rel: rel}
			pkgs[rel] = p
		}
		p.files = append(p.files, full)
		p.names = append(p.names, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 2 {
		t.Fatalf("found %d packages under %s; the walk is broken", len(pkgs), root)
	}
	return pkgs
}

func TestLayering(t *testing.T) {
	pkgs := loadPackages(t)
	rels := make([]string, 0, len(pkgs))
	for rel := range pkgs {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		rank, ok := rankOf(rel)
		if !ok {
			t.Errorf("package %q has no layer: add it to layers in internal/arch and to docs/architecture.md", rel)
			continue
		}
		for i, f := range pkgs[rel].files {
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				dep, ok := strings.CutPrefix(path, module)
				if !ok {
					continue
				}
				dep = strings.TrimPrefix(dep, "/")
				depRank, known := rankOf(dep)
				if !known {
					t.Errorf("%s imports %q, which has no layer", pkgs[rel].names[i], path)
					continue
				}
				if depRank >= rank && dep != rel {
					t.Errorf("%s (layer %d) imports %q (layer %d): imports must point down the layers", pkgs[rel].names[i], rank, path, depRank)
				}
			}
		}
	}
}

func TestEngineDoesNoIO(t *testing.T) {
	pkgs := loadPackages(t)
	checked := 0
	for rel, p := range pkgs {
		if !isEngine(rel) {
			continue
		}
		checked++
		for i, f := range p.files {
			for _, v := range engineViolations(f) {
				t.Errorf("%s: %s", p.names[i], v)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no engine package found")
	}
}

// engineViolations lists what in f breaks the sans-IO contract.
func engineViolations(f *ast.File) []string {
	var out []string
	timeName := ""
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if why := forbiddenImport(path); why != "" {
			out = append(out, "engine package imports "+strconv.Quote(path)+" ("+why+")")
		}
		if path == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			out = append(out, "engine package starts a goroutine")
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && timeName != "" && id.Name == timeName && clockFuncs[n.Sel.Name] {
				out = append(out, "engine package calls time."+n.Sel.Name+"; take `now` as a parameter")
			}
		}
		return true
	})
	return out
}

// TestRulesCatchViolations proves the checks above can fail.
func TestRulesCatchViolations(t *testing.T) {
	for path, bad := range map[string]bool{
		"sync": true, "sync/atomic": true, "math/rand": true, "math/rand/v2": false,
		"net": true, "net/netip": false, "os": true, "syscall": true,
		"golang.org/x/sys/unix": true, "time": false, "crypto/sha256": false,
	} {
		if got := forbiddenImport(path) != ""; got != bad {
			t.Errorf("forbiddenImport(%q) = %v, want %v", path, got, bad)
		}
	}
	for rel, want := range map[string]int{
		"cksum": 10, "mptcp/wire": 20, "mptcp/tcp": 40, "mptcp": 60, "mptcp/mptcptest": 70,
		"dataplane": 90, "": 100, "cmd/mpbench": 110, "internal/pcap": 0,
	} {
		if got, ok := rankOf(rel); !ok || got != want {
			t.Errorf("rankOf(%q) = %d, %v; want %d", rel, got, ok, want)
		}
	}
	if _, ok := rankOf("newpkg"); ok {
		t.Error("an unknown package has a layer")
	}
	for _, rel := range []string{"mptcp", "mptcp/tcp", "ofo", "cksum", "cflb"} {
		if !isEngine(rel) {
			t.Errorf("%q is not treated as engine", rel)
		}
	}
	if isEngine("dataplane/sim") || isEngine("mptcpx") {
		t.Error("a non-engine package is treated as engine")
	}
	src := "package p\nimport (\"sync\"; clock \"time\")\nvar mu sync.Mutex\nfunc f() { go f(); _ = clock.Now() }\n"
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v := engineViolations(f); len(v) != 3 {
		t.Errorf("engineViolations found %q; want the sync import, the goroutine and the clock read", v)
	}
}
