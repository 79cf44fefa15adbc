#!/usr/bin/env bash
# Builds what a one-node Kubernetes cluster for the tests needs
# (internal/testpeer/kubenode): everything of scripts/kube-apiserver.sh, then
# kube-controller-manager, kube-scheduler, kubelet and kube-proxy v1.34.4
# from the same wrapper module (hack/kube), and CoreDNS (the cluster DNS,
# its own module from the Go module proxy), into the same cache folder.
# Idempotent (does nothing when all are there) and safe to run concurrently
# (flock on the cache folder).
#
#   ./scripts/kube-node.sh    build if missing, print the cache folder
#
# Cold, right after scripts/kube-apiserver.sh (whose build cache covers most
# packages): 8.6 min for the three on 2 busy cores (measured 2026-12-06:
# kubelet 168 s, kube-controller-manager 262 s, kube-scheduler 85 s);
# kubelet alone ~21 min on a busy machine without that cache. kube-proxy:
# 19 s after the kubelet (measured 2026-12-06, same build cache). CoreDNS
# 1.14.7: 7.3 min on 2 busy cores (440 s measured 2026-12-06; its
# client-go is newer than Kubernetes 1.34's, so little is shared). The runtime
# (containerd, runc, the CNI plugins, iptables) is Debian's, installed by
# scripts/test.
set -euo pipefail

export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"

KUBE_VERSION="v1.34.4"
COREDNS_VERSION="v1.14.7"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache_root="${AISEDGE_CACHE:-$HOME/.cache/aisedge-test}"
dir="$cache_root/kube-${KUBE_VERSION#v}"
commands=(kube-controller-manager kube-scheduler kubelet kube-proxy)

"$root/scripts/kube-apiserver.sh" >/dev/null

have_all() {
	for c in "${commands[@]}" coredns; do [ -x "$dir/$c" ] || return 1; done
}
if have_all; then
	echo "$dir"
	exit 0
fi

exec 9>"$dir/.build.lock"
flock 9

pkg="k8s.io/component-base/version"
ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=34"
ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
for c in "${commands[@]}"; do
	[ -x "$dir/$c" ] && continue
	echo "== kube: building $c $KUBE_VERSION" >&2
	start=$(date +%s)
	tmp="$dir/$c.tmp.$$"
	trap 'rm -f "$tmp"' EXIT
	(cd "$root/hack/kube" && CGO_ENABLED=0 GOFLAGS=-mod=mod nice -n 10 \
		go build -trimpath -ldflags "$ldflags" -o "$tmp" "k8s.io/kubernetes/cmd/$c") >&2
	chmod 0755 "$tmp"
	mv -f "$tmp" "$dir/$c"
	trap - EXIT
	echo "== kube: built $c in $(($(date +%s) - start)) s" >&2
done

# CoreDNS: no replace directive in its go.mod, so go install builds the
# published module (its default plugin set, the kubernetes plugin among
# them) outside any module.
if [ ! -x "$dir/coredns" ]; then
	echo "== kube: building CoreDNS $COREDNS_VERSION" >&2
	start=$(date +%s)
	gobin="$dir/coredns.tmp.$$"
	trap 'rm -rf "$gobin"' EXIT
	(cd / && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$gobin" nice -n 10 \
		go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION") >&2
	mv -f "$gobin/coredns" "$dir/coredns"
	rm -rf "$gobin"
	trap - EXIT
	echo "== kube: built CoreDNS in $(($(date +%s) - start)) s" >&2
fi
echo "$dir"
