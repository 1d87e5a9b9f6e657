package metrics_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/souk/souk/platform/metrics"
)

// A certificate file shows its expiry, a bundle its earliest, read again at each scrape so a
// renewed file shows at once; a missing file shows nothing.
func TestCertCollectorShowsTheEarliestExpiry(t *testing.T) {
	dir := t.TempDir()
	soon, later := time.Now().Add(48*time.Hour).Truncate(time.Second), time.Now().Add(90*24*time.Hour).Truncate(time.Second)
	bundle, client := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "client.crt")
	writeCerts(t, bundle, later, soon)
	writeCerts(t, client, later)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCertCollector(map[string]string{"nats_ca": bundle, "nats_client": client, "missing": filepath.Join(dir, "none.crt"), "unset": ""}))
	check := func(want map[string]time.Time) {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]time.Time{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = time.Unix(int64(m.GetGauge().GetValue()), 0)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("expiries %v, want %v", got, want)
		}
		for purpose, at := range want {
			if !got[purpose].Equal(at) {
				t.Errorf("%s expires %v, want %v", purpose, got[purpose], at)
			}
		}
	}
	check(map[string]time.Time{"nats_ca": soon, "nats_client": later})
	renewed := later.Add(30 * 24 * time.Hour)
	writeCerts(t, client, renewed)
	check(map[string]time.Time{"nats_ca": soon, "nats_client": renewed})
}

// writeCerts writes self-signed certificates expiring at each of notAfter into file, with a
// key block among them as a certificate file with its key has.
func writeCerts(t *testing.T, file string, notAfter ...time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	for i, at := range notAfter {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), NotBefore: time.Now().Add(-time.Hour), NotAfter: at}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
