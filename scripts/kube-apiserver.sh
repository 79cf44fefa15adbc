#!/usr/bin/env bash
# Builds the kube-apiserver the fleet integration tests apply manifests to,
# and fetches the etcd it stores into; idempotent (does nothing when both are
# there) and safe to run concurrently (flock on the cache folder).
#
#   ./scripts/kube-apiserver.sh    build/fetch if missing, print the binary's path
#
# kube-apiserver v1.34.4 is built from the wrapper module in hack/kube (see its
# go.mod: k8s.io/kubernetes cannot be built from its own module zip) into
# ${AISEDGE_CACHE:-$HOME/.cache/aisedge-test}/kube-1.34.4/ (~13-14 min cold on
# 2 cores, 1.8 GB peak RSS; seconds when the build cache is warm).
#
# cert-manager's CRDs (from its Go module) are copied to $dir/crds/.
#
# etcd: Debian's etcd-server package (3.4.x); its binary is linked into the
# same cache folder as `etcd` so the tests find both in one place. Where apt
# is not usable, kine v0.17.5 (sqlite) is built into the folder instead.
# internal/fleet/kube/kubetest looks for the binaries at the same place.
set -euo pipefail

export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

KUBE_VERSION="v1.34.4"
KINE_VERSION="v0.17.5"
CERT_MANAGER_VERSION="v1.19.2"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache_root="${AISEDGE_CACHE:-$HOME/.cache/aisedge-test}"
dir="$cache_root/kube-${KUBE_VERSION#v}"
bin="$dir/kube-apiserver"

have_store() { [ -x "$dir/etcd" ] || [ -x "$dir/kine" ]; }
have_crds() { [ -f "$dir/crds/cert-manager-$CERT_MANAGER_VERSION/cert-manager.io_certificates.yaml" ]; }

if [ -x "$bin" ] && have_store && have_crds; then
	echo "$bin"
	exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/.build.lock"
flock 9

# --- etcd (or kine) ----------------------------------------------------------
if ! have_store; then
	if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ] && command -v apt-get >/dev/null 2>&1; then
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo="sudo"
		echo "== kube: installing Debian etcd-server" >&2
		if ! dpkg-query -W -f='${Status}' etcd-server 2>/dev/null | grep -q "install ok installed"; then
			$sudo apt-get update -q >&2 || true
			DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends etcd-server >&2 || true
		fi
		# The package starts a system etcd on 2379; the tests run their own.
		if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now etcd >/dev/null 2>&1 || true; fi
		if [ -x /etc/init.d/etcd ]; then $sudo /etc/init.d/etcd stop >/dev/null 2>&1 || true; fi
	fi
	etcd_bin="$(command -v etcd 2>/dev/null || true)"
	[ -n "$etcd_bin" ] || { [ -x /usr/bin/etcd ] && etcd_bin=/usr/bin/etcd; }
	if [ -n "$etcd_bin" ]; then
		ln -sf "$etcd_bin" "$dir/etcd"
	else
		echo "== kube: building kine $KINE_VERSION (no etcd available)" >&2
		(cd / && GOBIN="$dir" nice -n 10 go install "github.com/k3s-io/kine@$KINE_VERSION") >&2
	fi
fi

# --- cert-manager CRDs ------------------------------------------------------
# From cert-manager's Go module (deploy/crds); k0smotron's are vendored in
# hack/kube/crds (the proxy does not serve its module).
if [ ! -f "$dir/crds/cert-manager-$CERT_MANAGER_VERSION/cert-manager.io_certificates.yaml" ]; then
	echo "== kube: fetching cert-manager $CERT_MANAGER_VERSION CRDs" >&2
	cmdir=$(cd / && GOFLAGS=-mod=mod go mod download -json "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	if [ -z "$cmdir" ] || [ ! -d "$cmdir/deploy/crds" ]; then
		echo "kube: cert-manager module directory not found after download" >&2
		exit 1
	fi
	mkdir -p "$dir/crds/cert-manager-$CERT_MANAGER_VERSION"
	cp "$cmdir"/deploy/crds/*.yaml "$dir/crds/cert-manager-$CERT_MANAGER_VERSION/"
	chmod -R u+w "$dir/crds"
fi

# --- kube-apiserver ----------------------------------------------------------
if [ ! -x "$bin" ]; then
	echo "== kube: building kube-apiserver $KUBE_VERSION (about 13-14 min cold on 2 cores)" >&2
	start=$(date +%s)
	tmp="$dir/kube-apiserver.tmp.$$"
	trap 'rm -f "$tmp"' EXIT
	pkg="k8s.io/component-base/version"
	ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=34"
	ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	(cd "$root/hack/kube" && CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 10 \
		go build -trimpath -ldflags "$ldflags" -o "$tmp" k8s.io/kubernetes/cmd/kube-apiserver) >&2
	chmod 0755 "$tmp"
	mv -f "$tmp" "$bin"
	trap - EXIT
	echo "== kube: built kube-apiserver in $(($(date +%s) - start)) s" >&2
fi
echo "$bin"
