package connectors

import "testing"

func TestIsSecretKeyFailsClosed(t *testing.T) {
	regMu.Lock()
	saved := reg
	reg = map[string]Type{}
	regMu.Unlock()
	defer func() { regMu.Lock(); reg = saved; regMu.Unlock() }()
	if !IsSecretKey("host") {
		t.Error("with nothing registered every key must count as secret")
	}
}
