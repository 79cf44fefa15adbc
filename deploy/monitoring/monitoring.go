// Package monitoring embeds the monitoring artefacts of this folder so that
// `aisedge fleet render` ships them: the Prometheus alert and recording
// rules and the Grafana dashboards. deploy/deploy_test.go and
// internal/fleet/render's tests check them against the metrics and event
// fields the code emits.
package monitoring

import (
	"embed"
	"io/fs"
	"path"
	"sort"
)

//go:embed aisedge-alerts.yml aisedge-recording.yml aisedge-dashboard.json dashboards/*.json
var files embed.FS

// AlertRules is aisedge-alerts.yml.
func AlertRules() []byte { return mustRead("aisedge-alerts.yml") }

// RecordingRules is aisedge-recording.yml.
func RecordingRules() []byte { return mustRead("aisedge-recording.yml") }

// Dashboards returns every dashboard by file name: aisedge-dashboard.json
// and the four of dashboards/.
func Dashboards() map[string][]byte {
	out := map[string][]byte{"aisedge-dashboard.json": mustRead("aisedge-dashboard.json")}
	names, _ := fs.Glob(files, "dashboards/*.json")
	sort.Strings(names)
	for _, n := range names {
		out[path.Base(n)] = mustRead(n)
	}
	return out
}

func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}
