package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/parleyhq/parley/license"
)

// Files of an operator key pair, in the data directory for the development
// key or in the directory given to "license keygen --out-dir".
const (
	publicKeyFile  = "operator-key.pub"
	privateKeyFile = "operator-key.priv"
)

// devKey is the development operator key pair of a data directory.
type devKey struct {
	public      ed25519.PublicKey
	private     ed25519.PrivateKey
	publicPath  string
	privatePath string
	created     bool // made by this call
}

// loadOrCreateDevKey returns the data directory's development key pair,
// creating it when missing. Two processes creating it at once end up with
// the same pair: the private key file is linked into place only if absent.
func loadOrCreateDevKey(dataDir string) (devKey, error) {
	k := devKey{
		publicPath:  filepath.Join(dataDir, publicKeyFile),
		privatePath: filepath.Join(dataDir, privateKeyFile),
	}
	priv, err := readPrivateKey(k.privatePath)
	if errors.Is(err, fs.ErrNotExist) {
		if k.created, err = createPrivateKeyFile(dataDir, k.privatePath); err != nil {
			return k, err
		}
		priv, err = readPrivateKey(k.privatePath)
	}
	if err != nil {
		return k, err
	}
	k.private, k.public = priv, priv.Public().(ed25519.PublicKey)
	if err := writePublicKeyFile(k.publicPath, k.public); err != nil {
		return k, err
	}
	return k, nil
}

// createPrivateKeyFile writes a new private key to path unless the file
// appeared meanwhile; created reports whether this call wrote it.
func createPrivateKeyFile(dataDir, path string) (created bool, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return false, fmt.Errorf("creating the data directory: %w", err)
	}
	_, priv, err := license.GenerateKey()
	if err != nil {
		return false, err
	}
	created, err = writeNewFile(path, license.EncodePrivateKey(priv)+"\n", 0o600)
	if err != nil {
		return false, fmt.Errorf("writing the development operator key: %w", err)
	}
	return created, nil
}

// writePublicKeyFile writes pub to path unless the file already holds it.
func writePublicKeyFile(path string, pub ed25519.PublicKey) error {
	text := license.EncodePublicKey(pub)
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == text {
		return nil
	}
	if err := os.WriteFile(path, []byte(text+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the operator public key: %w", err)
	}
	return nil
}

// writeNewFile creates path with content and mode, atomically and only if
// it does not exist yet; created is false when another writer won.
func writeNewFile(path, content string, mode os.FileMode) (created bool, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return false, err
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// readPrivateKey reads an operator private key file in license's text form.
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	priv, err := license.ParsePrivateKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("reading operator private key %s: %w", path, err)
	}
	return priv, nil
}

// parsePublicKeys parses a comma-separated list of operator public keys.
func parsePublicKeys(list string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		k, err := license.ParsePublicKey(s)
		if err != nil {
			return nil, usagef("--license-keys: %q is not an operator public key: %v", s, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// operatorKeys are the public keys whose licences the server trusts.
type operatorKeys struct {
	keys []ed25519.PublicKey
	dev  *devKey // set when the development key is used
}

// resolveOperatorKeys returns the configured keys, or, when none is
// configured, the data directory's development key (created if missing).
func resolveOperatorKeys(configured, dataDir string) (operatorKeys, error) {
	keys, err := parsePublicKeys(configured)
	if err != nil || len(keys) > 0 {
		return operatorKeys{keys: keys}, err
	}
	dev, err := loadOrCreateDevKey(dataDir)
	if err != nil {
		return operatorKeys{}, err
	}
	return operatorKeys{keys: []ed25519.PublicKey{dev.public}, dev: &dev}, nil
}

// trusts reports whether pub is among the keys.
func (o operatorKeys) trusts(pub ed25519.PublicKey) bool {
	for _, k := range o.keys {
		if k.Equal(pub) {
			return true
		}
	}
	return false
}

// describeDevKey says what happened to the development key, or "" when the
// configured keys are used.
func (o operatorKeys) describeDevKey() string {
	switch {
	case o.dev == nil:
		return ""
	case o.dev.created:
		return fmt.Sprintf("no licence keys configured: created a development operator key pair (%s, private key %s) and trusting it; "+
			"'parley org create --plan enterprise' signs licences with it", o.dev.publicPath, o.dev.privatePath)
	default:
		return fmt.Sprintf("no licence keys configured: trusting the development operator key %s", o.dev.publicPath)
	}
}
