package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aisedge/aisedge/internal/api"
	"github.com/aisedge/aisedge/internal/config"
	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/fsperm"
	"github.com/aisedge/aisedge/internal/route"
)

// The start checks: everything about the machine that stops `aisedge
// edge` or `aisedge hub` at start (secrets in the environment or in key
// files, the key files' owner and mode, the de-identification key, the
// routing file and every profile it and the file name, CA bundles, the
// folders and the socket). The roles run them before starting anything
// and `aisedge config validate` runs the same functions, so that validate
// fails wherever a role would fail at start on the same file and machine.
// They create nothing; prepare*Folders create the folders afterwards.

// checker collects problems located in the configuration file.
type checker struct {
	f     *config.File
	probs []config.Problem
}

func (c *checker) add(field, msg, fix string) {
	c.probs = append(c.probs, c.f.Problem(field, msg, fix))
}

// addErr adds err, taking the message and fix apart when it is an
// fsperm.Problem.
func (c *checker) addErr(field string, err error, fix string) {
	var p *fsperm.Problem
	if errors.As(err, &p) {
		c.add(field, fmt.Sprintf("%s %s %s", p.Role, p.Path, p.Msg), p.Fix)
		return
	}
	c.add(field, err.Error(), fix)
}

// edgeStartProblems checks what `aisedge edge` needs from the machine.
func edgeStartProblems(f *config.File) []config.Problem {
	c := &checker{f: f}
	e := f.Edge
	keys, _, err := deidKeys(e.DeidKeyFile)
	if err != nil {
		field, fix := "edge", "export "+deid.SaltEnv+" with the deployment's key (64 hex digits; a new deployment makes one with openssl rand -hex 32 and keeps it), or name a key file in edge.deidKeyFile or $"+deid.SaltFileEnv
		if e.DeidKeyFile != "" {
			field, fix = "edge.deidKeyFile", "a file of 64 hex digits (openssl rand -hex 32 > FILE; chmod 0600 FILE)"
		}
		var p *fsperm.Problem
		if errors.As(err, &p) {
			c.addErr(field, err, p.Fix)
		} else {
			c.add(field, "the de-identification key: "+keyErrRE.ReplaceAllString(oneLine(err), ""), fix)
		}
		keys, _ = deid.NewKeys(strings.Repeat("00", 32)) // to check the profiles anyway
	}
	table := route.CatchAll(e.Project)
	if e.Routing != "" {
		table = nil
		if _, err := os.Stat(e.Routing); err == nil { // a missing file is the loader's problem already
			if table, err = route.Load(e.Routing); err != nil {
				c.add("edge.routing", strings.TrimPrefix(oneLine(err), "route: "), "correct the routing file (docs/compat.md, \"Receiving and routing\")")
			}
		}
	}
	// The default profile, then every route's: each loads and makes an
	// engine for its project, as at start.
	const profileFix = "a built-in profile (%s) or a readable profile file that loads (docs/deid.md)"
	builtins := strings.Join(deid.BuiltinProfiles(), ", ")
	engines, err := newEngineFactory(e.Profile, keys, e.Name, slog.New(slog.DiscardHandler))
	if err != nil {
		c.add("edge.profile", oneLine(err), fmt.Sprintf(profileFix, builtins))
	}
	if table != nil {
		for _, rt := range table.Routes() {
			field := "edge.routing"
			if e.Routing == "" {
				field = "edge.project"
			}
			f := engines
			if rt.Profile != "" && rt.Profile != e.Profile {
				if f, err = newEngineFactory(rt.Profile, keys, e.Name, slog.New(slog.DiscardHandler)); err != nil {
					c.add(field, fmt.Sprintf("route %s: %s", rt.CalledAET, oneLine(err)), fmt.Sprintf(profileFix, builtins))
					continue
				}
			}
			if f == nil {
				continue // the default profile's problem is reported
			}
			if _, err := f(rt); err != nil {
				c.add(field, fmt.Sprintf("route %s: %s", rt.CalledAET, oneLine(err)), "correct the route's project or profile")
			}
		}
	}
	c.s3("edge.s3", e.S3)
	c.httpActions("edge.httpActions", e.HTTPActions)
	c.socket("edge", e.Socket, e.DataDir)
	for _, d := range edgeFolders(e) {
		c.folder(d)
	}
	return c.probs
}

// hubStartProblems checks what `aisedge hub` needs from the machine.
func hubStartProblems(f *config.File) []config.Problem {
	c := &checker{f: f}
	h := f.Hub
	c.s3("hub.s3", h.S3)
	c.destinations(h)
	c.httpActions("hub.httpActions", h.HTTPActions)
	c.socket("hub", h.Socket, h.DataDir)
	for _, d := range hubFolders(h) {
		c.folder(d)
	}
	return c.probs
}

func (c *checker) s3(at string, s config.S3) {
	if (s.AccessKeyFile == "") == (s.SecretKeyFile == "") { // one file alone is the loader's problem
		c.secret(at, "accessKeyFile", s.AccessKeyFile, s.AccessKeyEnv, "the S3 access key")
		c.secret(at, "secretKeyFile", s.SecretKeyFile, s.SecretKeyEnv, "the S3 secret key")
	}
	c.caFile(at+".caFile", s.CAFile)
}

// keyErrRE strips the deid error's prefixes and its own advice.
var keyErrRE = regexp.MustCompile(`^(deid: )?(keys: )?|\s*\(generate one with[^)]*\)$`)

// oneLine is err's text on one line (a profile's findings are listed on
// lines of their own).
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// secret checks a credential read with config.Secret: from the file if
// one is named (its owner and mode checked), else from env.
func (c *checker) secret(at, fileField, file, env, what string) {
	if file != "" {
		if _, err := os.Stat(file); err != nil {
			return // the loader reported it
		}
		if _, err := config.Secret(file, env); err != nil {
			c.addErr(at+"."+fileField, err, "write "+what+" into it")
		}
		return
	}
	if strings.TrimSpace(os.Getenv(env)) == "" {
		c.add(at, fmt.Sprintf("%s: $%s is not set and %s is not given", what, env, fileField),
			fmt.Sprintf("export %s, or set %s to a file holding it (mode 0600)", env, fileField))
	}
}

// caFile checks that a CA bundle holds a PEM certificate.
func (c *checker) caFile(field, path string) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.add(field, fmt.Sprintf("%s cannot be read: %v", path, errors.Unwrap(err)), "make it readable by this user")
		}
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		c.add(field, path+" holds no PEM certificate", "the CA certificate(s) in PEM form (-----BEGIN CERTIFICATE-----)")
	}
}

func (c *checker) httpActions(at string, a config.HTTPActions) {
	if !a.Enabled || a.TokenFile == "" {
		return
	}
	if _, err := os.Stat(a.TokenFile); err != nil {
		return // the loader reported it
	}
	tok, err := actionToken(a.TokenFile)
	if err != nil {
		c.addErr(at+".tokenFile", err, "openssl rand -hex 32 > "+a.TokenFile+"; chmod 0600 "+a.TokenFile)
		return
	}
	if err := api.CheckTCPActions(api.TCPActions{Token: tok, Hosts: a.AllowedHosts}); err != nil {
		c.add(at+".allowedHosts", err.Error(), "host names or host:port")
	}
}

// actionToken reads the bearer token of the TCP actions from file.
func actionToken(file string) (string, error) {
	b, err := fsperm.ReadKeyFile("action token file", file)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if err := api.CheckToken(tok); err != nil {
		return "", fmt.Errorf("action token file %s %w", file, err)
	}
	return tok, nil
}

// socketPath is a role's local API socket.
func socketPath(socket, dataDir string) string {
	if socket != "" {
		return socket
	}
	return filepath.Join(dataDir, "aisedge.sock")
}

func (c *checker) socket(role, socket, dataDir string) {
	if socket == "" && dataDir == "" {
		return
	}
	p := socketPath(socket, dataDir)
	field := role + ".socket"
	if socket == "" {
		field = role + ".dataDir"
	}
	if err := api.CheckSocketPath(p); err != nil {
		c.add(field, fmt.Sprintf("the socket %s %v", p, err), "set "+role+".socket to a shorter path, e.g. /run/aisedge/aisedge.sock")
	}
}

// folder is one folder a role trusts: the configuration field that names
// it, its role in messages and the mode it is created with.
type folder struct {
	field, role, path string
	perm              os.FileMode
}

func edgeFolders(e *config.Edge) []folder {
	if e.DataDir == "" {
		return nil
	}
	fs := []folder{
		{"edge.dataDir", "data folder", e.DataDir, 0o750},
		{"edge.dataDir", "spool folder", filepath.Join(e.DataDir, "spool"), 0o700},
		{"edge.dataDir", "staging folder", filepath.Join(e.DataDir, "staging"), 0o750},
		{"edge.dataDir", "quarantine folder", filepath.Join(e.DataDir, "quarantine"), 0o750},
	}
	if e.FacilityBackup.Dir != "" {
		fs = append(fs, folder{"edge.facilityBackup.dir", "facility backup folder", e.FacilityBackup.Dir, 0o700})
	}
	if e.Socket != "" {
		fs = append(fs, folder{"edge.socket", "socket folder", filepath.Dir(e.Socket), 0o750})
	}
	return fs
}

func hubFolders(h *config.Hub) []folder {
	if h.DataDir == "" {
		return nil
	}
	fs := []folder{{"hub.dataDir", "data folder", h.DataDir, 0o700}}
	if h.Socket != "" {
		fs = append(fs, folder{"hub.socket", "socket folder", filepath.Dir(h.Socket), 0o750})
	}
	return fs
}

// folder checks an existing folder, or that a missing one can be made.
func (c *checker) folder(d folder) {
	err := fsperm.CheckDir(d.role, d.path)
	if errors.Is(err, fs.ErrNotExist) {
		err = fsperm.CheckCreatable(d.role, d.path)
	}
	if err != nil {
		c.addErr(d.field, err, "")
	}
}

// prepareFolders creates the missing folders (0700/0750) and checks them
// all again, now that they exist.
func prepareFolders(f *config.File, ds []folder) error {
	c := &checker{f: f}
	for _, d := range ds {
		if err := fsperm.EnsureDir(d.role, d.path, d.perm); err != nil {
			c.addErr(d.field, err, "")
		}
	}
	if len(c.probs) > 0 {
		return &config.Error{Problems: c.probs}
	}
	return nil
}

// startError returns the problems as a *config.Error, or nil.
func startError(probs []config.Problem) error {
	if len(probs) == 0 {
		return nil
	}
	config.SortProblems(probs)
	return &config.Error{Problems: probs}
}
