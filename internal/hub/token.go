package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/aisedge/aisedge/internal/fsutil"
)

// TokenStore keeps the XNAT alias token the client renewed, so that a hub
// restarted after the token in the secret files expired (48 hours by
// default) still logs in (docs/xnat.md, "Logging in and staying logged
// in"). The file (mode 0600, in the hub's 0700 data folder) also records a
// digest of the secret files' token it descends from: when the operator puts
// a new token in the files, the stored one is no longer used.
type TokenStore struct {
	Path string
}

type storedToken struct {
	Alias   string    `json:"alias"`
	Secret  string    `json:"secret"`
	Expires time.Time `json:"expires"`
	From    string    `json:"from"` // SHA-256 of the secret files' alias and secret
}

func credentialDigest(user, pass string) string {
	sum := sha256.Sum256([]byte(user + "\x00" + pass))
	return hex.EncodeToString(sum[:])
}

// Load returns the stored token descending from the files' credentials
// (fileUser, filePass) if it is still valid for at least a minute at now.
func (t TokenStore) Load(fileUser, filePass string, now time.Time) (alias, secret string, ok bool) {
	b, err := os.ReadFile(t.Path)
	if err != nil {
		return "", "", false
	}
	var st storedToken
	if json.Unmarshal(b, &st) != nil || st.Alias == "" || st.Secret == "" ||
		st.From != credentialDigest(fileUser, filePass) || !now.Add(time.Minute).Before(st.Expires) {
		return "", "", false
	}
	return st.Alias, st.Secret, true
}

// Save records a renewed token descending from the files' credentials.
func (t TokenStore) Save(fileUser, filePass, alias, secret string, expires time.Time) error {
	b, err := json.Marshal(storedToken{Alias: alias, Secret: secret, Expires: expires.UTC(), From: credentialDigest(fileUser, filePass)})
	if err != nil {
		return err
	}
	return fsutil.WriteFileSync(t.Path, b, 0o600)
}

// Remove forgets the stored token.
func (t TokenStore) Remove() error {
	if err := os.Remove(t.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
