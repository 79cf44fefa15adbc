package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Destination is one place the hub delivers sessions to (hub.destinations).
// Type chooses it, and the section of that type configures it: xnat (an
// XNAT server), archive (an XNAT-like folder tree), dicom (a PACS, by DICOM
// C-STORE) or dicomweb (a DICOMweb service, by STOW-RS). Credentials come
// only from files named here (mode 0600 and the daemon's), read by the hub.
type Destination struct {
	// Name names the destination in logs, events, the status and the
	// hub's delivery records (default: its type); unique in the file.
	// Renaming a destination makes the hub deliver to it again.
	Name string `yaml:"name"`
	// Type is xnat, archive, dicom or dicomweb (required).
	Type string `yaml:"type"`
	// Projects are the projects whose sessions go here (default: every
	// project).
	Projects []string `yaml:"projects,omitempty"`
	// XNAT configures a destination of type xnat (the fields of hub.xnat).
	XNAT *XNAT `yaml:"xnat,omitempty"`
	// Archive configures a destination of type archive.
	Archive *ArchiveDestination `yaml:"archive,omitempty"`
	// DICOM configures a destination of type dicom.
	DICOM *DICOMDestination `yaml:"dicom,omitempty"`
	// DICOMweb configures a destination of type dicomweb.
	DICOMweb *DICOMwebDestination `yaml:"dicomweb,omitempty"`
}

// ArchiveDestination configures an XNAT-like folder tree
// (<dir>/<PROJECT>/<SUBJECT>/<VISIT>/scans/...).
type ArchiveDestination struct {
	// Dir is the tree's root (required).
	Dir string `yaml:"dir"`
}

// DICOMDestination configures C-STORE forwarding to a PACS.
type DICOMDestination struct {
	// Address is the PACS's host:port (required).
	Address string `yaml:"address"`
	// CalledAET is the PACS's AE title (required).
	CalledAET string `yaml:"calledAET"`
	// CallingAET is the hub's AE title, as the PACS knows it.
	CallingAET string `yaml:"callingAET"`
	// Parallel is the number of concurrent associations.
	Parallel int `yaml:"parallel"`
	// Timeout bounds connecting, negotiating and each response.
	Timeout Duration `yaml:"timeout"`
}

// DICOMwebDestination configures STOW-RS to a DICOMweb service. Its
// credentials, if it wants any, are HTTP basic (UsernameFile and
// PasswordFile) or a bearer token (TokenFile).
type DICOMwebDestination struct {
	// URL is the service's DICOMweb root, https://host/dicom-web
	// (required).
	URL string `yaml:"url"`
	// CAFile adds PEM CA certificates for the service's certificate.
	CAFile string `yaml:"caFile"`
	// UsernameFile and PasswordFile hold HTTP basic credentials.
	UsernameFile string `yaml:"usernameFile"`
	PasswordFile string `yaml:"passwordFile"`
	// TokenFile holds a bearer token.
	TokenFile string `yaml:"tokenFile"`
	// AllowHTTP permits an http:// URL (a closed network only).
	AllowHTTP bool `yaml:"allowHTTP"`
	// BatchBytes bounds the files of one STOW-RS request.
	BatchBytes Size `yaml:"batchBytes"`
}

// DestinationTypes are the values of hub.destinations[].type.
var DestinationTypes = []string{"xnat", "archive", "dicom", "dicomweb"}

// PlacedDestination is a destination with the field path problems about it
// name: hub.destinations[i], or hub.xnat for the hub.xnat section of
// earlier configurations.
type PlacedDestination struct {
	Destination
	At string
}

// section is the path of the destination's section of a type:
// hub.destinations[i].<type>, or hub.xnat itself.
func (p PlacedDestination) section(typ string) string {
	if p.At == "hub.xnat" {
		return p.At
	}
	return p.At + "." + typ
}

// AllDestinations returns the hub's destinations: hub.xnat first, as one
// destination named xnat (configurations written before
// hub.destinations keep working unchanged), then hub.destinations.
func (h *Hub) AllDestinations() []PlacedDestination {
	var out []PlacedDestination
	if h.XNAT != nil {
		out = append(out, PlacedDestination{Destination{Name: "xnat", Type: "xnat", XNAT: h.XNAT}, "hub.xnat"})
	}
	for i, d := range h.Destinations {
		out = append(out, PlacedDestination{d, fmt.Sprintf("hub.destinations[%d]", i)})
	}
	return out
}

func (h *Hub) destinationDefaults() {
	if h.XNAT != nil {
		h.XNAT.defaults()
	}
	for i := range h.Destinations {
		d := &h.Destinations[i]
		setStr(&d.Name, d.Type)
		if d.XNAT != nil {
			d.XNAT.defaults()
		}
		if d.DICOM != nil {
			setStr(&d.DICOM.CallingAET, "AISEDGE")
			if d.DICOM.Parallel == 0 {
				d.DICOM.Parallel = 2
			}
			if d.DICOM.Timeout == 0 {
				d.DICOM.Timeout = Duration(time.Minute)
			}
		}
		if d.DICOMweb != nil && d.DICOMweb.BatchBytes == 0 {
			d.DICOMweb.BatchBytes = 64 << 20
		}
	}
}

func (x *XNAT) defaults() { setStr(&x.UploadMode, "archive") }

var destNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (h *Hub) validateDestinations(add addFunc) {
	all := h.AllDestinations()
	if len(all) == 0 {
		add("hub.destinations", "missing: the hub has nowhere to deliver",
			"add hub.destinations with at least one destination (type xnat, archive, dicom or dicomweb), or hub.xnat")
		return
	}
	first := map[string]string{}
	for _, d := range all {
		if d.At != "hub.xnat" {
			d.validateCommon(add)
		}
		if d.Name != "" {
			if at, dup := first[d.Name]; dup {
				add(d.At+".name", fmt.Sprintf("%q is the name of %s too", d.Name, at), "give each destination a name of its own")
			} else {
				first[d.Name] = d.At
			}
		}
		if d.XNAT != nil {
			d.XNAT.validate(add, d.section("xnat"))
		}
		if d.Archive != nil && d.Archive.Dir == "" {
			add(d.section("archive")+".dir", "missing", "the root of the folder tree, e.g. /srv/archive")
		}
		if d.DICOM != nil {
			d.DICOM.validate(add, d.section("dicom"))
		}
		if d.DICOMweb != nil {
			d.DICOMweb.validate(add, d.section("dicomweb"))
		}
	}
}

// validateCommon checks what every entry of hub.destinations has: a name,
// a type, the section of its type and no other, the projects.
func (d PlacedDestination) validateCommon(add addFunc) {
	if !destNameRE.MatchString(d.Name) {
		add(d.At+".name", fmt.Sprintf("%q is not a destination name", d.Name), "lower-case letters, digits and '-', e.g. pacs-main")
	}
	sections := map[string]bool{"xnat": d.XNAT != nil, "archive": d.Archive != nil, "dicom": d.DICOM != nil, "dicomweb": d.DICOMweb != nil}
	switch {
	case d.Type == "":
		add(d.At+".type", "missing", "one of "+strings.Join(DestinationTypes, ", "))
	case !sections[d.Type] && !isDestinationType(d.Type):
		add(d.At+".type", fmt.Sprintf("%q is not a destination type", d.Type), "one of "+strings.Join(DestinationTypes, ", "))
	case !sections[d.Type]:
		add(d.At+"."+d.Type, "missing for type "+d.Type, fmt.Sprintf("add a section %s: with the %s's fields (docs/reference.md)", d.Type, d.Type))
	}
	for _, t := range DestinationTypes {
		if sections[t] && t != d.Type && isDestinationType(d.Type) {
			add(d.At+"."+t, "has no effect for type "+d.Type, "remove it, or make it a destination of its own")
		}
	}
	for i, p := range d.Projects {
		if !labelRE.MatchString(p) {
			add(fmt.Sprintf("%s.projects[%d]", d.At, i), fmt.Sprintf("%q is not a project ID", p), "letters, digits, '_' and '-'")
		}
	}
}

func isDestinationType(t string) bool {
	for _, x := range DestinationTypes {
		if x == t {
			return true
		}
	}
	return false
}

func (x *XNAT) validate(add addFunc, at string) {
	checkServiceURL(add, field(at, "url"), x.URL, x.AllowInsecureRedirect, serviceURLFixes{
		example: "https://xnat.example.org", credentials: "usernameFile/passwordFile or XNAT_USER/XNAT_PASS",
		base: "the base URL only, https://host[/context]", http: "set allowInsecureRedirect: true on a closed network, as XNAT_ALLOW_INSECURE_REDIRECT=1 did"})
	checkFile(add, field(at, "caFile"), x.CAFile)
	checkFile(add, field(at, "usernameFile"), x.UsernameFile)
	checkFile(add, field(at, "passwordFile"), x.PasswordFile)
	checkPair(add, at, "usernameFile", x.UsernameFile, "passwordFile", x.PasswordFile, "XNAT_USER and XNAT_PASS")
	if x.UploadMode != "archive" && x.UploadMode != "per-file" {
		add(field(at, "uploadMode"), fmt.Sprintf("%q is not an upload mode", x.UploadMode), "archive or per-file")
	}
}

func (c *DICOMDestination) validate(add addFunc, at string) {
	if c.Address == "" {
		add(field(at, "address"), "missing", "the PACS's host:port, e.g. pacs.example.org:104")
	} else {
		checkHostPort(add, field(at, "address"), c.Address)
		if strings.HasSuffix(c.Address, ":0") {
			add(field(at, "address"), "port 0 is no PACS's port", "the port the PACS listens on, e.g. 104 or 11112")
		}
	}
	for _, f := range []struct{ field, v string }{{"calledAET", c.CalledAET}, {"callingAET", c.CallingAET}} {
		if !aetRE.MatchString(f.v) || strings.TrimSpace(f.v) == "" {
			add(field(at, f.field), fmt.Sprintf("%q is not an AE title", f.v), "1-16 printable characters, no backslash, as the PACS knows it")
		}
	}
	if c.Parallel < 0 {
		add(field(at, "parallel"), fmt.Sprintf("%d is negative", c.Parallel), "a positive number of associations, e.g. 2")
	}
	if c.Timeout < Duration(time.Second) {
		add(field(at, "timeout"), "shorter than 1s", "60s")
	}
}

func (w *DICOMwebDestination) validate(add addFunc, at string) {
	checkServiceURL(add, field(at, "url"), w.URL, w.AllowHTTP, serviceURLFixes{
		example: "https://pacs.example.org/dicom-web", credentials: "usernameFile/passwordFile or tokenFile",
		base: "the DICOMweb root only", http: "set allowHTTP: true on a closed network"})
	checkFile(add, field(at, "caFile"), w.CAFile)
	checkFile(add, field(at, "usernameFile"), w.UsernameFile)
	checkFile(add, field(at, "passwordFile"), w.PasswordFile)
	checkFile(add, field(at, "tokenFile"), w.TokenFile)
	switch {
	case w.UsernameFile != "" && w.PasswordFile == "":
		add(field(at, "passwordFile"), "missing while usernameFile is set", "set both files, or neither")
	case w.UsernameFile == "" && w.PasswordFile != "":
		add(field(at, "usernameFile"), "missing while passwordFile is set", "set both files, or neither")
	}
	if w.TokenFile != "" && (w.UsernameFile != "" || w.PasswordFile != "") {
		add(field(at, "tokenFile"), "set with usernameFile/passwordFile", "one way to authenticate: a token, or a user name and password")
	}
	if w.BatchBytes < 0 {
		add(field(at, "batchBytes"), "negative", "a size such as 64MiB")
	}
}

func field(at, name string) string { return at + "." + name }

// Section is the path of the destination's own section:
// hub.destinations[i].<type>, or hub.xnat.
func (p PlacedDestination) Section() string { return p.section(p.Type) }

// serviceURLFixes are the fixes checkServiceURL proposes.
type serviceURLFixes struct{ example, credentials, base, http string }

// checkServiceURL checks a service's base URL: http(s), a host, no
// credentials, no query; https unless allowHTTP.
func checkServiceURL(add addFunc, at, v string, allowHTTP bool, fix serviceURLFixes) {
	u, err := url.Parse(v)
	switch {
	case v == "":
		add(at, "missing", "the service's URL, e.g. "+fix.example)
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		add(at, fmt.Sprintf("%q is not an http(s) URL", v), fix.example)
	case u.User != nil:
		add(at, "carries credentials", "remove them; use "+fix.credentials)
	case u.RawQuery != "" || u.Fragment != "":
		add(at, "has a query or fragment", fix.base)
	case u.Scheme != "https" && !allowHTTP:
		add(at, "is not https", "use https (or "+fix.http+")")
	}
}
