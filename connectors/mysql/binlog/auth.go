package binlog

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Authentication plugin names as the server announces them.
const (
	pluginNative      = "mysql_native_password"
	pluginCachingSHA2 = "caching_sha2_password"
	pluginEd25519     = "client_ed25519"
	pluginClear       = "mysql_clear_password"
)

// caching_sha2_password AuthMoreData codes.
const (
	sha2RequestPublicKey = 0x02
	sha2FastAuthOK       = 0x03
	sha2FullAuth         = 0x04
)

// authResponse computes the first answer of plugin to the server's
// challenge. Errors name the plugin, never the password.
func authResponse(plugin string, challenge []byte, password string, secure bool) ([]byte, error) {
	switch plugin {
	case pluginNative:
		return scrambleNative(challenge, password), nil
	case pluginCachingSHA2:
		return scrambleSHA256(challenge, password), nil
	case pluginEd25519:
		return signEd25519(challenge, password), nil
	case pluginClear:
		if !secure {
			return nil, fmt.Errorf("auth plugin %s sends the password in clear text: it needs TLS", plugin)
		}
		return append([]byte(password), 0), nil
	default:
		return nil, fmt.Errorf("auth plugin %q: %w", plugin, ErrUnsupported)
	}
}

// scrambleNative is mysql_native_password:
// SHA1(password) XOR SHA1(challenge + SHA1(SHA1(password))).
func scrambleNative(challenge []byte, password string) []byte {
	if password == "" {
		return nil
	}
	stage1 := sha1.Sum([]byte(password))
	stage2 := sha1.Sum(stage1[:])
	h := sha1.New()
	h.Write(challenge)
	h.Write(stage2[:])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= stage1[i]
	}
	return out
}

// scrambleSHA256 is the caching_sha2_password fast-path answer:
// SHA256(password) XOR SHA256(SHA256(SHA256(password)) + challenge).
func scrambleSHA256(challenge []byte, password string) []byte {
	if password == "" {
		return nil
	}
	stage1 := sha256.Sum256([]byte(password))
	stage2 := sha256.Sum256(stage1[:])
	h := sha256.New()
	h.Write(stage2[:])
	h.Write(challenge)
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= stage1[i]
	}
	return out
}

// signEd25519 is MariaDB's client_ed25519: an Ed25519 signature of the
// challenge whose secret scalar and nonce prefix come from SHA512(password)
// (standard Ed25519 hashes a 32-byte seed instead; for a 32-byte password the
// two coincide).
func signEd25519(challenge []byte, password string) []byte {
	h := sha512.Sum512([]byte(password))
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil { // cannot happen: the input is 32 bytes
		return nil
	}
	pub := (&edwards25519.Point{}).ScalarBaseMult(a).Bytes()

	rh := sha512.New()
	rh.Write(h[32:])
	rh.Write(challenge)
	r, _ := edwards25519.NewScalar().SetUniformBytes(rh.Sum(nil))
	R := (&edwards25519.Point{}).ScalarBaseMult(r).Bytes()

	kh := sha512.New()
	kh.Write(R)
	kh.Write(pub)
	kh.Write(challenge)
	k, _ := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	S := edwards25519.NewScalar().MultiplyAdd(k, a, r)
	return append(R, S.Bytes()...)
}

// encryptPassword is caching_sha2_password full authentication without TLS:
// (password + NUL) XOR the challenge, RSA-OAEP encrypted with the server key.
func encryptPassword(password string, challenge []byte, pub *rsa.PublicKey) ([]byte, error) {
	if len(challenge) == 0 {
		return nil, errors.New("empty auth challenge")
	}
	plain := append([]byte(password), 0)
	for i := range plain {
		plain[i] ^= challenge[i%len(challenge)]
	}
	out, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, plain, nil)
	if err != nil {
		return nil, fmt.Errorf("encrypt password with server key: %w", err)
	}
	return out, nil
}

// parsePublicKey reads the PEM the server sends for caching_sha2_password.
func parsePublicKey(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(bytes.TrimSpace(data))
	if block == nil {
		return nil, errors.New("server public key: no PEM block")
	}
	if key, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		if rk, ok := key.(*rsa.PublicKey); ok {
			return rk, nil
		}
		return nil, errors.New("server public key is not RSA")
	}
	key, err := x509.ParsePKCS1PublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("server public key: %w", err)
	}
	return key, nil
}

// authenticate runs the exchange after the handshake response was sent with
// plugin's answer to challenge: auth switches, caching_sha2_password's extra
// rounds, until OK or ERR.
func (c *Conn) authenticate(plugin string, challenge []byte) error {
	secure := c.tls
	awaitingKey := false
	// A server never needs more than a handful of rounds; the bound stops a
	// misbehaving peer from looping forever.
	for range 16 {
		p, err := c.pc.readPacket()
		if err != nil {
			return fmt.Errorf("read auth result: %w", err)
		}
		if len(p) == 0 {
			return errors.New("empty auth packet")
		}
		switch p[0] {
		case 0x00:
			return nil
		case 0xff:
			return parseErrPacket(p)
		case 0xfe:
			if len(p) == 1 {
				return fmt.Errorf("server asks for the pre-4.1 password hash (mysql_old_password): %w", ErrUnsupported)
			}
			cur := cursor{b: p[1:]}
			plugin = string(cur.nulString())
			challenge = cur.rest()
			if plugin == pluginNative || plugin == pluginCachingSHA2 {
				// Their 20-byte scramble is sent NUL-terminated. Other
				// plugins' data is binary (ed25519's 32-byte nonce may
				// end in a zero byte) and kept whole.
				challenge = bytes.TrimSuffix(challenge, []byte{0})
			}
			resp, err := authResponse(plugin, challenge, c.cfg.Password, secure)
			if err != nil {
				return err
			}
			if err := c.pc.writePacket(resp); err != nil {
				return fmt.Errorf("write auth switch response: %w", err)
			}
		case 0x01:
			if plugin != pluginCachingSHA2 {
				return fmt.Errorf("unexpected auth data for plugin %s", plugin)
			}
			data := p[1:]
			switch {
			case awaitingKey:
				key, err := parsePublicKey(data)
				if err != nil {
					return err
				}
				if err := c.sendEncryptedPassword(challenge, key); err != nil {
					return err
				}
				awaitingKey = false
			case len(data) == 1 && data[0] == sha2FastAuthOK:
				// The OK packet follows.
			case len(data) == 1 && data[0] == sha2FullAuth:
				switch {
				case secure:
					if err := c.pc.writePacket(append([]byte(c.cfg.Password), 0)); err != nil {
						return fmt.Errorf("write password: %w", err)
					}
				case c.cfg.ServerPublicKey != nil:
					if err := c.sendEncryptedPassword(challenge, c.cfg.ServerPublicKey); err != nil {
						return err
					}
				default:
					if err := c.pc.writePacket([]byte{sha2RequestPublicKey}); err != nil {
						return fmt.Errorf("request server public key: %w", err)
					}
					awaitingKey = true
				}
			default:
				return fmt.Errorf("unexpected caching_sha2_password data (%d bytes)", len(data))
			}
		default:
			return fmt.Errorf("unexpected auth packet 0x%02x", p[0])
		}
	}
	return errors.New("authentication did not finish")
}

func (c *Conn) sendEncryptedPassword(challenge []byte, key *rsa.PublicKey) error {
	enc, err := encryptPassword(c.cfg.Password, challenge, key)
	if err != nil {
		return err
	}
	if err := c.pc.writePacket(enc); err != nil {
		return fmt.Errorf("write encrypted password: %w", err)
	}
	return nil
}
