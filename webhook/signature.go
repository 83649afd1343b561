// Package webhook delivers Parley's events to the webhook endpoints of
// each org, following the Standard Webhooks specification: signed POSTs
// (webhook-id, webhook-timestamp, webhook-signature), at least once,
// retried on a schedule of growing delays, by any number of server
// processes sharing the work through leases on the deliveries table. Its
// HTTP client refuses private, loopback and link-local targets at each
// connection (Guard).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// secretPrefix starts every signing secret (Standard Webhooks).
const secretPrefix = "whsec_"

// secretBytes is the size of a new secret's key.
const secretBytes = 32

// NewSecret returns a new signing secret: "whsec_" and the standard
// base64 of 32 random bytes.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook: new secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// secretKey returns the HMAC key of a secret ("whsec_" + base64).
func secretKey(secret string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("webhook: secret does not start with %s", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("webhook: secret is not base64: %v", err)
	}
	return key, nil
}

// Sign returns the Standard Webhooks signature of a message: "v1," and the
// base64 HMAC-SHA256, keyed by the secret, of "id.timestamp.body" with
// the timestamp in unix seconds.
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(at.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// SignatureHeader returns the webhook-signature header: the signature of
// each secret, space-separated (several during a rotation's overlap).
func SignatureHeader(secrets []string, id string, at time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, secret := range secrets {
		sig, err := Sign(secret, id, at, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}
