//go:build tools

// Package kube pins the commands this wrapper module builds; the build tag
// keeps it out of every build (scripts/kube-apiserver.sh builds the commands
// by import path).
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
