package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/aisedge/aisedge/internal/fleet/image"
)

// OCI annotation and label keys of a release.
const (
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
	LabelLicenses = "org.opencontainers.image.licenses"
	LabelRefName  = "org.opencontainers.image.ref.name"
)

// SPDXMediaType is the SBOM's media type, also the artifact type of the
// manifest that attaches it to the index.
const SPDXMediaType = "application/spdx+json"

// OCIIndex describes a multi-arch release image.
type OCIIndex struct {
	// Binaries are the static aisedge binaries by GOARCH.
	Binaries map[string][]byte
	// CACertificates is the PEM bundle put in every image.
	CACertificates []byte
	// Labels go on every image's configuration and on the index as
	// annotations (LabelVersion, LabelRevision, LabelSource,
	// LabelLicenses, ...).
	Labels map[string]string
	// Tag names the index in the layout (LabelRefName).
	Tag string
	// SBOM, when set, is attached as an artifact whose subject is the
	// index (the OCI 1.1 referrers layout), listed in index.json too.
	SBOM []byte
}

// Write writes the layout as a tar file (an oci-archive) and returns the
// index's digest.
func (o *OCIIndex) Write(out string) (v1.Hash, error) {
	blobs := map[string][]byte{}
	var manifests []map[string]any
	for _, arch := range slices.Sorted(maps.Keys(o.Binaries)) {
		img, err := image.ImageWithLabels(o.Binaries[arch], o.CACertificates, arch, o.Labels)
		if err != nil {
			return v1.Hash{}, err
		}
		d, size, err := image.ImageBlobs(img, blobs)
		if err != nil {
			return v1.Hash{}, err
		}
		manifests = append(manifests, map[string]any{"mediaType": string(types.OCIManifestSchema1), "digest": d.String(), "size": size,
			"platform": map[string]string{"os": "linux", "architecture": arch}})
	}
	idx, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": string(types.OCIImageIndex), "manifests": manifests,
		"annotations": o.Labels})
	if err != nil {
		return v1.Hash{}, err
	}
	idxDigest := put(blobs, idx)
	top := []map[string]any{{"mediaType": string(types.OCIImageIndex), "digest": idxDigest.String(), "size": len(idx),
		"annotations": map[string]string{LabelRefName: o.Tag}}}
	if o.SBOM != nil {
		empty := []byte("{}")
		emptyDigest := put(blobs, empty)
		sbomDigest := put(blobs, o.SBOM)
		art, err := json.Marshal(map[string]any{
			"schemaVersion": 2, "mediaType": string(types.OCIManifestSchema1), "artifactType": SPDXMediaType,
			"config": map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": emptyDigest.String(), "size": len(empty)},
			"layers": []map[string]any{{"mediaType": SPDXMediaType, "digest": sbomDigest.String(), "size": len(o.SBOM),
				"annotations": map[string]string{"org.opencontainers.image.title": "sbom.spdx.json"}}},
			"subject":     map[string]any{"mediaType": string(types.OCIImageIndex), "digest": idxDigest.String(), "size": len(idx)},
			"annotations": map[string]string{"org.opencontainers.image.created": "1970-01-01T00:00:00Z"},
		})
		if err != nil {
			return v1.Hash{}, err
		}
		artDigest := put(blobs, art)
		top = append(top, map[string]any{"mediaType": string(types.OCIManifestSchema1), "artifactType": SPDXMediaType,
			"digest": artDigest.String(), "size": len(art)})
	}
	layout, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": string(types.OCIImageIndex), "manifests": top})
	if err != nil {
		return v1.Hash{}, err
	}
	if _, err := image.WriteLayout(out, layout, blobs); err != nil {
		return v1.Hash{}, fmt.Errorf("oci: %w", err)
	}
	return idxDigest, nil
}

func put(blobs map[string][]byte, b []byte) v1.Hash {
	s := sha256.Sum256(b)
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
	blobs[h.Hex] = b
	return h
}
