package wire

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	scramMechanism  = "SCRAM-SHA-256"
	scramIterations = 4096
	scramSaltLen    = 16
)

var errBadVerifier = errors.New("invalid SCRAM verifier")

// scramSecret is a parsed PostgreSQL SCRAM-SHA-256 verifier.
type scramSecret struct {
	iterations int
	salt       []byte
	storedKey  []byte
	serverKey  []byte
}

// SCRAMVerifier creates a PostgreSQL-format SCRAM-SHA-256 verifier
// "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" for password.
func SCRAMVerifier(password string) (string, error) {
	salt := make([]byte, scramSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("%s$%d:%s$%s:%s", scramMechanism, scramIterations, b64(salt), b64(stored[:]), b64(serverKey)), nil
}

func parseSCRAMVerifier(v string) (*scramSecret, error) {
	mech, rest, ok := strings.Cut(v, "$")
	if !ok || mech != scramMechanism {
		return nil, errBadVerifier
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, errBadVerifier
	}
	iterS, saltS, ok1 := strings.Cut(params, ":")
	storedS, serverS, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return nil, errBadVerifier
	}
	iter, err := strconv.Atoi(iterS)
	if err != nil || iter < 1 {
		return nil, errBadVerifier
	}
	dec := base64.StdEncoding.DecodeString
	salt, err1 := dec(saltS)
	stored, err2 := dec(storedS)
	server, err3 := dec(serverS)
	if err1 != nil || err2 != nil || err3 != nil || len(stored) != sha256.Size || len(server) != sha256.Size || len(salt) == 0 {
		return nil, errBadVerifier
	}
	return &scramSecret{iterations: iter, salt: salt, storedKey: stored, serverKey: server}, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// scramServer runs the server side of one SCRAM-SHA-256 exchange (RFC 5802/7677).
type scramServer struct {
	secret          *scramSecret
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	nonce           string
}

var errSCRAMProtocol = errors.New("malformed SCRAM message")

// clientFirst parses client-first-message and returns server-first-message.
func (s *scramServer) clientFirst(msg string) (string, error) {
	// gs2-header: cbind-flag "," [authzid] ","
	var flag string
	switch {
	case strings.HasPrefix(msg, "n,"), strings.HasPrefix(msg, "y,"):
		flag = msg[:2]
	default:
		// "p=..." asks for channel binding, which we never advertise.
		return "", errSCRAMProtocol
	}
	authz, bare, ok := strings.Cut(msg[2:], ",")
	if !ok || authz != "" {
		return "", errSCRAMProtocol
	}
	s.gs2Header = flag + ","
	s.clientFirstBare = bare
	var clientNonce string
	for _, attr := range strings.Split(bare, ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			clientNonce = v
		}
		if strings.HasPrefix(attr, "m=") {
			return "", errSCRAMProtocol // mandatory extensions are not supported
		}
	}
	if clientNonce == "" || !printableNonce(clientNonce) {
		return "", errSCRAMProtocol
	}
	rnd := make([]byte, 18)
	if _, err := rand.Read(rnd); err != nil {
		return "", err
	}
	s.nonce = clientNonce + base64.StdEncoding.EncodeToString(rnd)
	s.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", s.nonce, base64.StdEncoding.EncodeToString(s.secret.salt), s.secret.iterations)
	return s.serverFirst, nil
}

func printableNonce(n string) bool {
	for _, c := range n {
		if c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// clientFinal verifies client-final-message. ok is false for a wrong
// password; err is set for a malformed message.
func (s *scramServer) clientFinal(msg string) (serverFinal string, ok bool, err error) {
	idx := strings.LastIndex(msg, ",p=")
	if idx < 0 {
		return "", false, errSCRAMProtocol
	}
	withoutProof := msg[:idx]
	proof, err := base64.StdEncoding.DecodeString(msg[idx+3:])
	if err != nil || len(proof) != sha256.Size {
		return "", false, errSCRAMProtocol
	}
	var cbind, nonce string
	for _, attr := range strings.Split(withoutProof, ",") {
		if v, ok := strings.CutPrefix(attr, "c="); ok {
			cbind = v
		} else if v, ok := strings.CutPrefix(attr, "r="); ok {
			nonce = v
		}
	}
	if cbind != base64.StdEncoding.EncodeToString([]byte(s.gs2Header)) || nonce != s.nonce {
		return "", false, errSCRAMProtocol
	}
	authMsg := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	clientSig := hmacSHA256(s.secret.storedKey, authMsg)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	stored := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(stored[:], s.secret.storedKey) != 1 {
		return "", false, nil
	}
	serverSig := hmacSHA256(s.secret.serverKey, authMsg)
	return "v=" + base64.StdEncoding.EncodeToString(serverSig), true, nil
}
