package main

import (
	"fmt"
	"os"

	"github.com/aisedge/aisedge/internal/deid"
	"github.com/aisedge/aisedge/internal/fsperm"
)

// deidKeys returns the de-identification key: from file (a configuration
// field or flag) when set, else from the file named by
// $AIS_DEID_HMAC_SALT_FILE, else from $AIS_DEID_HMAC_SALT. A key file must
// pass fsperm's key-file check (0600 and ours, or root:<our group>
// 0440/0640); setting both environment variables is refused, as the two
// could disagree. source says where the key came from, for the log.
func deidKeys(file string) (keys *deid.Keys, source string, err error) {
	envFile, envKey := os.Getenv(deid.SaltFileEnv), os.Getenv(deid.SaltEnv)
	switch {
	case file != "":
		source = file
	case envFile != "" && envKey != "":
		return nil, "", fmt.Errorf("both %s and %s are set: keep one", deid.SaltFileEnv, deid.SaltEnv)
	case envFile != "":
		file, source = envFile, "$"+deid.SaltFileEnv
	default:
		keys, err := deid.KeysFromEnv()
		return keys, "$" + deid.SaltEnv, err
	}
	b, err := fsperm.ReadKeyFile("de-identification key file", file)
	if err != nil {
		return nil, "", err
	}
	if keys, err = deid.NewKeysFrom(string(b), "the de-identification key file "+file); err != nil {
		return nil, "", err
	}
	return keys, source, nil
}
