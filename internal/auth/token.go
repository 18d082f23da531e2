// Package auth authenticates API callers by their tokens. A token is
// "kz_" followed by the unpadded base64url encoding of 32 random bytes; only
// its SHA-256 hash is stored (store.Token.Hash), so a leaked database does
// not leak usable credentials. The plaintext is shown once, when created.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// TokenPrefix starts every Kizuna token, so that tokens are recognisable
// (for instance by secret scanners).
const TokenPrefix = "kz_"

// tokenBytes is the number of random bytes in a token.
const tokenBytes = 32

// tokenLen is the length of a token's text.
var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewToken returns a fresh random token and its SHA-256 hash.
func NewToken() (plaintext string, hash [32]byte, err error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", [32]byte{}, fmt.Errorf("generating token: %w", err)
	}
	plaintext = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return plaintext, HashToken(plaintext), nil
}

// HashToken returns the SHA-256 hash under which a token is stored.
func HashToken(token string) [32]byte {
	return sha256.Sum256([]byte(token))
}

// WellFormed reports whether s has the shape of a Kizuna token.
func WellFormed(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s[len(TokenPrefix):])
	return err == nil && len(b) == tokenBytes
}

// NewUUID returns a random (version 4) UUID in its canonical text form,
// for organisation ("identity--" + UUID), user and token ids.
func NewUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
