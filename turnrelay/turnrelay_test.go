package turnrelay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "turn.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func newRelay(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{ListenIP: "127.0.0.1", TLSCert: selfSigned(t), Secret: []byte("0123456789abcdef-turn"),
		AllowedPeers: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// echo is a UDP peer on 127.0.0.1 (the "SFU") that answers every datagram.
func echo(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return c
}

// client allocates a relay over conn and returns it.
func allocate(t *testing.T, conn net.PacketConn, server, user, pass string) (net.PacketConn, *turn.Client, error) {
	t.Helper()
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server, Username: user, Password: pass,
		Realm: "jobhall", Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	relay, err := c.AllocateWithContext(ctx)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return relay, c, nil
}

// roundTrip sends through the relay until the echo comes back (the first
// datagram may race the permission being installed).
func roundTrip(t *testing.T, relay net.PacketConn, to net.Addr) error {
	t.Helper()
	var err error
	buf := make([]byte, 100)
	for i := 0; i < 10; i++ {
		if _, err = relay.WriteTo([]byte("ping"), to); err != nil {
			continue
		}
		relay.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		var n int
		if n, _, err = relay.ReadFrom(buf); err == nil {
			if string(buf[:n]) != "ping" {
				t.Fatalf("echo %q", buf[:n])
			}
			return nil
		}
	}
	return err
}

func TestRelayOverUDPTCPAndTLS(t *testing.T) {
	s := newRelay(t)
	peer := echo(t)
	server := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port()))
	user, pass := s.Credentials("seeker-1", time.Minute)

	dials := map[string]func() net.PacketConn{
		"udp": func() net.PacketConn {
			c, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		"tcp": func() net.PacketConn {
			c, err := net.Dial("tcp4", server)
			if err != nil {
				t.Fatal(err)
			}
			return turn.NewSTUNConn(c)
		},
		"tls": func() net.PacketConn {
			c, err := tls.Dial("tcp4", s.TLSAddr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test certificate
			if err != nil {
				t.Fatal(err)
			}
			return turn.NewSTUNConn(c)
		},
	}
	for name, dial := range dials {
		t.Run(name, func(t *testing.T) {
			conn := dial()
			defer conn.Close()
			addr := server
			if name == "tls" {
				addr = s.TLSAddr()
			}
			relay, c, err := allocate(t, conn, addr, user, pass)
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			defer c.Close()
			defer relay.Close()
			if err := roundTrip(t, relay, peer.LocalAddr()); err != nil {
				t.Fatalf("relay to the SFU: %v", err)
			}
		})
	}
}

func TestCredentialsAndPeersAreChecked(t *testing.T) {
	s := newRelay(t)
	server := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port()))
	conn := func() net.PacketConn {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	user, pass := s.Credentials("seeker-1", time.Minute)
	expiredUser, expiredPass := s.Credentials("seeker-1", -time.Minute)
	for name, up := range map[string][2]string{
		"wrong password": {user, "bm90IHRoZSBwYXNzd29yZA=="},
		"expired":        {expiredUser, expiredPass},
		"no expiry":      {"seeker-1", pass},
	} {
		if _, _, err := allocate(t, conn(), server, up[0], up[1]); err == nil {
			t.Errorf("%s: allocation accepted", name)
		}
	}
	// A valid client may not relay anywhere but the SFU.
	relay, c, err := allocate(t, conn(), server, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer relay.Close()
	foreign := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9}
	_ = roundTrip(t, relay, foreign)
	if s.Refused() == 0 {
		t.Fatal("relay to a foreign peer was not refused")
	}
	if s.Allocations() != 1 {
		t.Fatalf("%d allocations", s.Allocations())
	}
}

func TestICEServers(t *testing.T) {
	s := newRelay(t)
	got := s.ICEServers("hall.example", "seeker-1", time.Minute)
	if len(got) != 1 || len(got[0].URLs) != 3 || got[0].Username == "" || got[0].Credential == "" {
		t.Fatalf("%+v", got)
	}
	if _, err := New(Config{Secret: []byte("short")}); err == nil {
		t.Fatal("short secret accepted")
	}
}
