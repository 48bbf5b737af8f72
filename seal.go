package dingtoken

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SealingFetcher is a [Fetcher] whose tokens the [Manager] seals before they
// reach a [Store], so that whoever can read the Store (memcached has no
// authentication) learns nothing usable without the app's secret.
// Every credential type of this package implements it (JSAPITicket with
// its App's secret); FetcherFunc does not. The tokens of a Fetcher without
// a secret stay in its process, out of the Store, unless
// Manager.StorePlaintext is set.
type SealingFetcher interface {
	Fetcher
	// SealingSecret returns the secret the sealing key is derived from: the
	// app or suite secret. If it is empty, the tokens stay out of the Store
	// unless Manager.StorePlaintext is set.
	SealingSecret() string
}

// SealingSecret returns the client secret.
func (c *AppCredentials) SealingSecret() string { return c.ClientSecret }

// SealingSecret returns the app secret.
func (c *LegacyAppCredentials) SealingSecret() string { return c.AppSecret }

// SealingSecret returns the suite secret.
func (c *CorpCredentials) SealingSecret() string { return c.SuiteSecret }

// errSealed is wrapped when a stored value does not open: tampered, sealed
// under another app's secret, or not sealed at all.
var errSealed = errors.New("dingtoken: stored token does not open with this app's key")

// sealedPrefix starts every sealed value; the version names the scheme.
const sealedPrefix = "dts1."

// sealer seals and opens one key's tokens with AES-256-GCM. The key comes
// from HKDF-SHA256 over the app's secret, with the fetcher key as context, so
// a value sealed for one app or corp does not open for another. The
// token's key and expiry are authenticated too: a value moved to another key,
// or given a later expiry, does not open.
type sealer struct {
	aead     cipher.AEAD
	nonceKey []byte // keys the HMAC that makes each value's nonce
	key      string
}

func newSealer(secret, key string) (*sealer, error) {
	k, err := hkdf.Key(sha256.New, []byte(secret), []byte("dingtoken L2 sealing v1"), key, 32)
	if err != nil {
		return nil, err
	}
	nonceKey, err := hkdf.Key(sha256.New, []byte(secret), []byte("dingtoken L2 nonce v1"), key, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, nonceKey: nonceKey, key: key}, nil
}

// associatedData binds a sealed value to its key and expiry (to the
// millisecond, as Stores keep it).
func (s *sealer) associatedData(expiry time.Time) []byte {
	return []byte(s.key + "\x00" + strconv.FormatInt(expiry.UnixMilli(), 10))
}

// seal returns t with its value sealed and its expiry cut to milliseconds.
//
// The nonce is synthetic: an HMAC of the associated data and the token under
// a key of its own, as in SIV. Sealing is then deterministic, so a process
// can seal a token again to find the value it must compare-and-delete,
// instead of keeping every stored value in memory; two different tokens
// share a nonce with probability 2^-96.
func (s *sealer) seal(t Token) Token {
	t.Expiry = time.UnixMilli(t.Expiry.UnixMilli())
	ad := s.associatedData(t.Expiry)
	mac := hmac.New(sha256.New, s.nonceKey)
	mac.Write(ad)
	mac.Write([]byte{0})
	mac.Write([]byte(t.Value))
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(t.Value)+s.aead.Overhead())
	copy(nonce, mac.Sum(nil))
	sealed := s.aead.Seal(nonce, nonce, []byte(t.Value), ad)
	return Token{Value: sealedPrefix + base64.RawURLEncoding.EncodeToString(sealed), Expiry: t.Expiry}
}

// open returns the token a sealed value holds, or an error wrapping errSealed.
func (s *sealer) open(t Token) (Token, error) {
	raw, ok := strings.CutPrefix(t.Value, sealedPrefix)
	if !ok {
		return Token{}, errSealed
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return Token{}, errSealed
	}
	nonce, ciphertext := b[:s.aead.NonceSize()], b[s.aead.NonceSize():]
	plain, err := s.aead.Open(nil, nonce, ciphertext, s.associatedData(t.Expiry))
	if err != nil || len(plain) == 0 {
		return Token{}, errSealed
	}
	return Token{Value: string(plain), Expiry: t.Expiry}, nil
}
