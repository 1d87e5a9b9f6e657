package metrics

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// CertCollector exports when the certificates a process loads expire, by purpose: each file
// is read again at every scrape, as the NATS connection reads it again on every reconnect,
// so a renewed certificate shows at once. A file holding several certificates (a CA bundle)
// shows the earliest expiry; a file that cannot be read or holds none shows nothing (the
// connection that needs it fails loudly anyway).
type CertCollector struct {
	files  map[string]string // PEM file by purpose
	expiry *prometheus.Desc
}

// NewCertCollector returns a CertCollector of files, PEM file paths by purpose (nats_ca,
// nats_client); empty paths are left out.
func NewCertCollector(files map[string]string) *CertCollector {
	c := &CertCollector{files: map[string]string{},
		expiry: prometheus.NewDesc("souk_tls_certificate_expiry_timestamp_seconds",
			"When a certificate the process loads expires (Unix time), by purpose (nats_ca, nats_client); the earliest of a bundle.", []string{"purpose"}, nil)}
	for purpose, file := range files {
		if file != "" {
			c.files[purpose] = file
		}
	}
	return c
}

// Describe sends the gauge's description.
func (c *CertCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.expiry }

// Collect reads every file and sends its earliest expiry.
func (c *CertCollector) Collect(ch chan<- prometheus.Metric) {
	for purpose, file := range c.files {
		if t, ok := earliestExpiry(file); ok {
			ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64(t), purpose)
		}
	}
}

// earliestExpiry returns the earliest NotAfter, in Unix seconds, of the certificates in the
// PEM file; false when there is none.
func earliestExpiry(file string) (int64, bool) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	var expiries []int64
	for {
		var block *pem.Block
		block, raw = pem.Decode(raw)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue // a key beside the certificate
		}
		if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
			expiries = append(expiries, cert.NotAfter.Unix())
		}
	}
	if len(expiries) == 0 {
		return 0, false
	}
	return slices.Min(expiries), true
}
