//go:build tools

// Package kube pins the commands this wrapper module builds; the build tag
// keeps it out of every build (scripts/kube-apiserver.sh and
// scripts/kube-node.sh build the commands by import path).
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
