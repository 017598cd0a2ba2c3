package pgserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// Silence is where a SilentServer stops answering.
type Silence int

const (
	// SilentAtAccept accepts connections and never reads or writes: a server whose host is up
	// and whose postmaster is stuck, or a black hole behind a proxy.
	SilentAtAccept Silence = iota
	// SilentAfterStartup answers the TLS request (with TLS, a self-signed certificate) and the
	// startup message (authentication ok, ready for query), then never answers a query: a
	// server that hangs once a session has begun.
	SilentAfterStartup
)

// Protocol codes of the startup phase (PostgreSQL frontend/backend protocol 3.0).
const (
	sslRequestCode     = 80877103
	gssEncRequestCode  = 80877104
	protocolVersion3   = 196608
	maxStartupLength   = 10000
	silentReadDeadline = time.Hour
)

// SilentServer is a stand-in for a PostgreSQL server that stops answering, for tests that a
// client gives up on its own. It holds every connection open until Close.
type SilentServer struct {
	Addr    string
	silence Silence
	l       net.Listener
	tls     *tls.Config

	mu    sync.Mutex
	conns []net.Conn
	// Accepted counts connections accepted, Started the sessions that reached SilentAfterStartup's
	// silence.
	accepted, started int
	wg                sync.WaitGroup
}

// StartSilentT listens on addr (host:port) and answers as silence says; t's end closes it.
func StartSilentT(t testing.TB, addr string, silence Silence) *SilentServer {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatalf("silent server on %s: %v", addr, err)
	}
	s := &SilentServer{Addr: l.Addr().String(), silence: silence, l: l}
	if silence == SilentAfterStartup {
		if s.tls, err = selfSignedTLS(); err != nil {
			l.Close()
			t.Fatal(err)
		}
	}
	s.wg.Go(s.serve)
	t.Cleanup(s.Close)
	return s
}

// Counts returns how many connections were accepted and how many sessions started.
func (s *SilentServer) Counts() (accepted, started int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.started
}

// Close stops listening and closes every connection.
func (s *SilentServer) Close() {
	s.l.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *SilentServer) serve() {
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.accepted++
		s.mu.Unlock()
		if s.silence == SilentAfterStartup {
			s.wg.Go(func() { s.startSession(c) })
		}
	}
}

// startSession answers the startup phase, then reads and discards until the client goes.
func (s *SilentServer) startSession(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(silentReadDeadline))
	var conn net.Conn = c
	for {
		code, err := readStartup(conn)
		if err != nil {
			return
		}
		switch code {
		case sslRequestCode:
			if _, err := conn.Write([]byte{'S'}); err != nil {
				return
			}
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn = tc
			continue
		case gssEncRequestCode:
			if _, err := conn.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		case protocolVersion3:
		default:
			return
		}
		break
	}
	var out []byte
	out = appendMessage(out, 'R', binary.BigEndian.AppendUint32(nil, 0)) // AuthenticationOk
	for _, kv := range [][2]string{{"server_version", "15.0"}, {"client_encoding", "UTF8"}, {"standard_conforming_strings", "on"}} {
		out = appendMessage(out, 'S', []byte(kv[0]+"\x00"+kv[1]+"\x00")) // ParameterStatus
	}
	out = appendMessage(out, 'K', binary.BigEndian.AppendUint64(nil, 42)) // BackendKeyData
	out = appendMessage(out, 'Z', []byte{'I'})                            // ReadyForQuery
	if _, err := conn.Write(out); err != nil {
		return
	}
	s.mu.Lock()
	s.started++
	s.mu.Unlock()
	_, _ = io.Copy(io.Discard, conn) // the queries, never answered
}

// readStartup reads one startup-phase message (length, code, body) and returns its code.
func readStartup(r io.Reader) (uint32, error) {
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(head[:4])
	if n < 8 || n > maxStartupLength {
		return 0, fmt.Errorf("startup message of %d bytes", n)
	}
	if _, err := io.CopyN(io.Discard, r, int64(n-8)); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(head[4:]), nil
}

func appendMessage(b []byte, typ byte, body []byte) []byte {
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)+4))
	return append(b, body...)
}

// selfSignedTLS is a server configuration with a certificate nobody can verify: good enough for
// a client that asks for TLS and no verification.
func selfSignedTLS() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "likewise silent server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, nil
}
