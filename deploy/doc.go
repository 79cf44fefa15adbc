// Package deploy holds deployment artefacts that are not Go code:
// monitoring/ has the Grafana dashboard and the Prometheus alert rules for
// every aisedge role, debian/ the systemd units and the .deb's maintainer
// scripts, rpm/ the .rpm's scriptlets. Its tests prove that the monitoring
// files parse and reference only metrics the code emits, and that
// scripts/release builds installable packages, the OCI index and the
// SBOM. Nothing imports it.
package deploy
