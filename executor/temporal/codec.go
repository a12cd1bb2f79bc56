package temporal

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/flowgate/flowgate/catalog"
	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Payloads are sealed whole (metadata and data) with the catalog's secret
// key, so Temporal's history holds nothing readable: not a datasource
// name, a table, a key range or an error message. The key's fingerprint
// travels in clear so a process with another key says which one it lacks.
// Payloads over compressAbove bytes are deflated before sealing (a CDC
// run's heartbeat grows with its tables, and Temporal refuses payloads
// over 2 MB).
const (
	encodingSealed         = "binary/flowgate-sealed"
	encodingSealedDeflated = "binary/flowgate-sealed-deflate"
	metaEncoding           = "encoding"
	metaKeyID              = "flowgate-key"
	compressAbove          = 1024
)

// ErrWrongKey means a payload was sealed with another secret key.
var ErrWrongKey = errors.New("wrong secret key")

// Codec is a converter.PayloadCodec sealing payloads with the catalog key.
type Codec struct {
	sealer *catalog.Sealer
	keyID  string
}

// NewCodec makes a Codec for a 32-byte key.
func NewCodec(key []byte) (*Codec, error) {
	s, err := catalog.NewSealer(key)
	if err != nil {
		return nil, err
	}
	return &Codec{sealer: s, keyID: KeyID(key)}, nil
}

// KeyID is a key's fingerprint: the first 8 bytes of its SHA-256, in hex.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("flowgate-key-id:"), key...))
	return hex.EncodeToString(sum[:8])
}

// Encode implements converter.PayloadCodec.
func (c *Codec) Encode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(ps))
	for i, p := range ps {
		raw, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("seal payload: %w", err)
		}
		enc := encodingSealed
		if len(raw) > compressAbove {
			if raw, err = deflate(raw); err != nil {
				return nil, fmt.Errorf("seal payload: %w", err)
			}
			enc = encodingSealedDeflated
		}
		sealed, err := c.sealer.Seal(raw)
		if err != nil {
			return nil, fmt.Errorf("seal payload: %w", err)
		}
		out[i] = &commonpb.Payload{Metadata: map[string][]byte{metaEncoding: []byte(enc), metaKeyID: []byte(c.keyID)}, Data: sealed}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec; payloads it did not seal pass
// through.
func (c *Codec) Decode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(ps))
	for i, p := range ps {
		enc := string(p.GetMetadata()[metaEncoding])
		if enc != encodingSealed && enc != encodingSealedDeflated {
			out[i] = p
			continue
		}
		if id := string(p.GetMetadata()[metaKeyID]); id != c.keyID {
			return nil, fmt.Errorf("%w: the payload is sealed with key %s, this process holds key %s; start it with the gateway's --secret-key-file", ErrWrongKey, id, c.keyID)
		}
		raw, err := c.sealer.Open(p.GetData())
		if err != nil {
			return nil, fmt.Errorf("open sealed payload: %w", err)
		}
		if enc == encodingSealedDeflated {
			if raw, err = io.ReadAll(flate.NewReader(bytes.NewReader(raw))); err != nil {
				return nil, fmt.Errorf("open sealed payload: inflate: %w", err)
			}
		}
		var q commonpb.Payload
		if err := proto.Unmarshal(raw, &q); err != nil {
			return nil, fmt.Errorf("open sealed payload: %w", err)
		}
		out[i] = &q
	}
	return out, nil
}

func deflate(raw []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// DataConverter is Temporal's default converter with payloads sealed.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// failureConverter seals failure messages (they name tables and keys)
// except a wrong key's: sealed with the wrong key, the gateway could not
// read why the worker failed. That message holds key fingerprints only.
type failureConverter struct {
	sealed converter.FailureConverter
	plain  converter.FailureConverter
}

func newFailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return failureConverter{
		sealed: temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true}),
		plain:  temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc}),
	}
}

func (f failureConverter) ErrorToFailure(err error) *failurepb.Failure {
	if errors.Is(err, ErrWrongKey) {
		return f.plain.ErrorToFailure(err)
	}
	return f.sealed.ErrorToFailure(err)
}

func (f failureConverter) FailureToError(fl *failurepb.Failure) error {
	return f.sealed.FailureToError(fl)
}
