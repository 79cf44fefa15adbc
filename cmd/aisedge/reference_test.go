package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/fleet"
)

// TestReference keeps docs/reference.md, the flag and configuration
// reference, generated from the code: every command's flags as the binary
// prints them, every configuration field with its type, default and doc
// comment. Run `go test ./cmd/aisedge -run TestReference -update` after
// changing flags or config fields.
func TestReference(t *testing.T) {
	got := reference(t)
	path := filepath.Join("..", "..", "docs", "reference.md")
	if *updateRef {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/aisedge -run TestReference -update)", err)
	}
	if string(want) != got {
		t.Fatal("docs/reference.md is out of date: run go test ./cmd/aisedge -run TestReference -update")
	}
}

func reference(t *testing.T) string {
	var b strings.Builder
	b.WriteString("# aisedge reference\n\n")
	b.WriteString("Generated from the code by `go test ./cmd/aisedge -run TestReference -update`; do not edit.\n\n")
	b.WriteString("## Commands and flags\n\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		var out bytes.Buffer
		c.run(context.Background(), []string{"-h"}, &out, &out)
		fmt.Fprintf(&b, "### aisedge %s\n\n%s\n\n", n, c.summary)
		if help := strings.TrimSpace(out.String()); help != "" {
			fmt.Fprintf(&b, "```\n%s\n```\n\n", help)
		}
	}
	b.WriteString("## Exit statuses\n\n")
	b.WriteString("Every command exits with one of these (`aisedge help` prints the same table). ")
	b.WriteString("The daemons (`run`, `edge`, `hub`) exit 0 when stopped by Ctrl-C or SIGTERM after a clean shutdown.\n\n")
	b.WriteString("| status | meaning |\n|---|---|\n")
	for _, line := range strings.Split(strings.TrimSpace(exitTable), "\n")[1:] {
		code, meaning, _ := strings.Cut(strings.TrimSpace(line), " ")
		fmt.Fprintf(&b, "| %s | %s |\n", code, strings.TrimSpace(meaning))
	}
	b.WriteString("\n")
	b.WriteString("## Configuration file\n\n")
	b.WriteString("One YAML document with an `edge` and/or a `hub` section, decoded strictly (unknown fields are errors). ")
	b.WriteString("`aisedge config validate FILE` reports every problem and prints the effective configuration. ")
	b.WriteString("Durations are Go durations (`30s`, `2h`); sizes are bytes or `500MiB`, `1GiB`, `10GB`.\n\n")
	docs := packageFieldDocs(t, "config")
	// Defaults: a minimal valid file, loaded with the defaults applied.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, nil, 0o600)
	f, err := config.Parse("defaults.yaml", []byte(`
edge: {name: edge-a, dataDir: /d, facilityBackup: {dir: /b}, s3: {endpoint: "https://s3"}}
hub: {dataDir: /h, s3: {endpoint: "https://s3"}, xnat: {url: "https://xnat"}, destinations: [
  {name: other-xnat, type: xnat, xnat: {url: "https://xnat"}}, {type: archive, archive: {dir: /a}},
  {type: dicom, dicom: {address: "pacs:104", calledAET: PACS}}, {type: dicomweb, dicomweb: {url: "https://pacs/dicom-web"}}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString("| field | type | default | meaning |\n|---|---|---|---|\n")
	walkFields(&b, docs, "", reflect.ValueOf(f).Elem(), map[string]bool{})
	b.WriteString("\nSecrets never live in the file: S3 keys come from `accessKeyFile`/`secretKeyFile` or the environment variables ")
	b.WriteString("named by `accessKeyEnv`/`secretKeyEnv`; XNAT credentials from `usernameFile`/`passwordFile` or `XNAT_USER`/`XNAT_PASS`; ")
	b.WriteString("DICOMweb credentials from `usernameFile`/`passwordFile` or `tokenFile` (a PACS over DICOM knows the hub by `callingAET`); ")
	b.WriteString("the de-identification key (64 hex digits) from the file in `edge.deidKeyFile` (or `aisedge run --deid-key-file`), else the file named by ")
	b.WriteString("`AIS_DEID_HMAC_SALT_FILE`, else `AIS_DEID_HMAC_SALT` (setting both variables is refused). Key files must be 0600 and the daemon's user's ")
	b.WriteString("(or root:<its group> 0440/0640, as a Kubernetes Secret volume mounts them); anything else is refused with the chmod/chown that fixes it.\n")
	b.WriteString("\nDiagnostics: `AISEDGE_CPUPROFILE=FILE` makes any command write a Go CPU profile of its whole run to FILE (0600; for a daemon until it stops), ")
	b.WriteString("read with `go tool pprof aisedge FILE`; the end-to-end benchmark sets it with `AISEDGE_BENCH_CPUPROFILE=DIR`.\n")
	b.WriteString("\nMemory: a process that runs an edge (`edge`, `run`) sets the Go heap's soft limit to 64 MiB unless `GOMEMLIMIT` sets another ")
	b.WriteString("(the collector runs sooner near it; a heap that needs more still gets it).\n")
	fleetReference(t, &b)
	return b.String()
}

// fleetReference writes the fleet file's fields (`aisedge fleet`), with
// the defaults of a file that sets only what has none (a site named
// <site>, the observability stack enabled).
func fleetReference(t *testing.T, b *strings.Builder) {
	b.WriteString("\n## Fleet file\n\n")
	b.WriteString("The file of `aisedge fleet --config FILE` (deploy/fleet/README.md; deploy/fleet/fleet.example.yaml is an example), decoded strictly. ")
	b.WriteString("`aisedge fleet config validate` reports every problem with file, line, field and fix, and prints the effective configuration. ")
	b.WriteString("A secret is `{file: PATH}` (relative to the file) or `{env: NAME}`, never a value. Durations are Go durations (`30s`, `2m`) ")
	b.WriteString("except `observability.retention` (Prometheus: `30d`).\n\n")
	docs := packageFieldDocs(t, "fleet")
	// Validation fails (no secrets, no image); the defaults are applied.
	c, _ := fleet.Parse(filepath.Join(t.TempDir(), "fleet.yaml"), []byte("sites: [{name: <site>}]\nobservability: {enabled: true}\n"))
	b.WriteString("| field | type | default | meaning |\n|---|---|---|---|\n")
	fleetFields(b, docs, "", reflect.ValueOf(c).Elem())
}

// packageFieldDocs collects the struct field comments (fieldDocs) of every
// non-test source file of internal/<pkg>.
func packageFieldDocs(t *testing.T, pkg string) map[string]string {
	docs := map[string]string{}
	sources, _ := filepath.Glob(filepath.Join("..", "..", "internal", pkg, "*.go"))
	for _, src := range sources {
		if !strings.HasSuffix(src, "_test.go") {
			maps.Copy(docs, fieldDocs(t, src))
		}
	}
	return docs
}

var secretType = reflect.TypeFor[fleet.Secret]()

// fleetFields writes a row per field of the fleet configuration v.
func fleetFields(b *strings.Builder, docs map[string]string, prefix string, v reflect.Value) {
	typ := v.Type()
	for i := range typ.NumField() {
		fld := typ.Field(i)
		tag := strings.Split(fld.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !fld.IsExported() {
			continue
		}
		name := strings.TrimPrefix(prefix+"."+tag, ".")
		doc := strings.ReplaceAll(docs[typ.Name()+"."+fld.Name], "|", "\\|")
		fv := v.Field(i)
		kind, def := fld.Type.Kind().String(), ""
		switch {
		case fld.Type == secretType:
			kind = "secret"
		case fld.Type.Kind() == reflect.Struct:
			fmt.Fprintf(b, "| `%s` | section | | %s |\n", name, doc)
			fleetFields(b, docs, name, fv)
			continue
		case fld.Type.Kind() == reflect.Slice && fld.Type.Elem().Kind() == reflect.Struct:
			fmt.Fprintf(b, "| `%s` | list of sections | | %s |\n", name, doc)
			if fv.Len() > 0 {
				fleetFields(b, docs, name+"[]", fv.Index(0))
			}
			continue
		case fld.Type.Kind() == reflect.Slice:
			kind = "list of " + fld.Type.Elem().Kind().String()
		case fld.Type.Kind() == reflect.Map:
			kind = "map"
		case fld.Type.Kind() == reflect.Pointer:
			kind = fld.Type.Elem().Kind().String()
		case name == "observability.enabled":
			// enabled for the other fields' defaults; off by default
		default:
			if !fv.IsZero() {
				def = fmt.Sprint(fv.Interface())
			}
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", name, kind, def, doc)
	}
}

// fieldDocs maps "Type.Field" to the field's doc comment in a Go file.
func fieldDocs(t *testing.T, path string) map[string]string {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	ast.Inspect(file, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return true
		}
		for _, fld := range st.Fields.List {
			text := ""
			if fld.Doc != nil {
				text = fld.Doc.Text()
			} else if fld.Comment != nil {
				text = fld.Comment.Text()
			}
			for _, name := range fld.Names {
				docs[ts.Name.Name+"."+name.Name] = strings.Join(strings.Fields(text), " ")
			}
		}
		return true
	})
	return docs
}

// walkFields writes a row per field of v, once per name (seen): a list of
// sections is written as name[] with the fields of all its elements (the
// defaults file has one destination of each type).
func walkFields(b *strings.Builder, docs map[string]string, prefix string, v reflect.Value, seen map[string]bool) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return // written from another element of its list
		}
		v = v.Elem()
	}
	typ := v.Type()
	for i := range typ.NumField() {
		fld := typ.Field(i)
		tag := strings.Split(fld.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := tag
		if prefix != "" {
			name = prefix + "." + tag
		}
		fv := v.Field(i)
		doc := docs[typ.Name()+"."+fld.Name]
		inner := fv
		if inner.Kind() == reflect.Pointer {
			inner = inner.Elem()
		}
		if fv.Kind() == reflect.Pointer && fv.IsNil() && fv.Type().Elem().Kind() == reflect.Struct {
			continue // written from another element of its list
		}
		if inner.Kind() == reflect.Struct {
			if doc != "" && !seen[name] {
				fmt.Fprintf(b, "| `%s` | section | | %s |\n", name, doc)
				seen[name] = true
			}
			walkFields(b, docs, name, fv, seen)
			continue
		}
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct {
			if !seen[name] {
				fmt.Fprintf(b, "| `%s` | list of sections | | %s |\n", name, doc)
				seen[name] = true
			}
			for j := range fv.Len() {
				walkFields(b, docs, name+"[]", fv.Index(j), seen)
			}
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		def := fmt.Sprint(fv.Interface())
		switch x := fv.Interface().(type) {
		case config.Duration:
			def = fmt.Sprint(reflectDuration(x))
		}
		if def == "" || def == "0" || def == "0s" || def == "false" || strings.HasPrefix(name, "edge.name") || strings.HasSuffix(name, "dataDir") ||
			strings.HasSuffix(name, "endpoint") || strings.HasSuffix(name, "url") || name == "edge.facilityBackup.dir" ||
			strings.HasSuffix(name, "[].name") || strings.HasSuffix(name, "[].type") || strings.HasSuffix(name, ".dir") ||
			strings.HasSuffix(name, ".address") || strings.HasSuffix(name, ".calledAET") {
			def = ""
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", name, typeName(fld.Type), def, doc)
	}
}

func reflectDuration(d config.Duration) string {
	v, _ := d.MarshalYAML()
	return fmt.Sprint(v)
}

func typeName(t reflect.Type) string {
	switch t.Name() {
	case "Duration":
		return "duration"
	case "Size":
		return "size"
	}
	return t.Kind().String()
}

var updateRef = flag.Bool("update", false, "rewrite docs/reference.md")
