// Package turnrelay is jobhall's embedded TURN server (pion/turn v5) for
// seekers whose networks block direct media: symmetric NATs, UDP-blocking
// firewalls. It listens on UDP and TCP (and TLS when given a certificate),
// accepts only short-lived credentials derived from a shared secret (the
// TURN REST scheme), and relays only to the SFU's own addresses, so it
// cannot be used as an open relay.
package turnrelay

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is HMAC-SHA1
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/turn/v5"
)

// Config configures the relay.
type Config struct {
	ListenIP string // "" = 0.0.0.0
	Port     int    // UDP and TCP port; 0 = any free port
	TLSPort  int    // used only with TLSCert; 0 = any free port
	TLSCert  *tls.Certificate
	// RelayIP is the address relayed candidates carry (the host's public
	// address); nil = ListenIP, or 127.0.0.1 when that is unspecified.
	RelayIP net.IP
	// AllowedPeers are the only IPs a client may relay to (the SFU's
	// addresses). Empty refuses every peer.
	AllowedPeers []net.IP
	Secret       []byte
	Realm        string // default "jobhall"
	Logger       *slog.Logger
	// Net replaces the OS network (tests: a pion/transport vnet); TLS is
	// then layered on its TCP listener.
	Net transport.Net
	// NoTCP serves UDP only (pion's vnet has no TCP listener).
	NoTCP bool
}

// Server is a running relay.
type Server struct {
	cfg     Config
	srv     *turn.Server
	udp     net.PacketConn
	tcp     net.Listener
	tls     net.Listener
	log     *slog.Logger
	refused atomic.Uint64
}

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// New starts the relay.
func New(cfg Config) (*Server, error) {
	if len(cfg.Secret) < 16 {
		return nil, errors.New("turnrelay: the secret must be at least 16 bytes")
	}
	if cfg.ListenIP == "" {
		cfg.ListenIP = "0.0.0.0"
	}
	if cfg.Realm == "" {
		cfg.Realm = "jobhall"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RelayIP == nil {
		cfg.RelayIP = net.ParseIP(cfg.ListenIP)
		if cfg.RelayIP == nil || cfg.RelayIP.IsUnspecified() {
			cfg.RelayIP = net.IPv4(127, 0, 0, 1)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "turn")}
	var err error
	addr := net.JoinHostPort(cfg.ListenIP, strconv.Itoa(cfg.Port))
	if cfg.Net == nil {
		if cfg.Net, err = stdnet.NewNet(); err != nil {
			return nil, fmt.Errorf("turnrelay: %w", err)
		}
	}
	if s.udp, err = cfg.Net.ListenPacket("udp4", addr); err != nil {
		return nil, fmt.Errorf("turnrelay: udp %s: %w", addr, err)
	}
	// TCP on the same port number as UDP, like every TURN deployment.
	port := s.udp.LocalAddr().(*net.UDPAddr).Port
	if !cfg.NoTCP {
		if s.tcp, err = cfg.Net.ListenTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(cfg.ListenIP), Port: port}); err != nil {
			s.udp.Close()
			return nil, fmt.Errorf("turnrelay: tcp port %d: %w", port, err)
		}
	}
	gen := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{RelayAddress: cfg.RelayIP, Address: cfg.ListenIP, Net: cfg.Net}
	}
	scfg := turn.ServerConfig{
		Realm:         cfg.Realm,
		AuthHandler:   s.auth,
		LoggerFactory: pionLogs{s.log},
		PacketConnConfigs: []turn.PacketConnConfig{
			{PacketConn: s.udp, RelayAddressGenerator: gen(), PermissionHandler: s.permit},
		},
	}
	if s.tcp != nil {
		scfg.ListenerConfigs = append(scfg.ListenerConfigs, turn.ListenerConfig{Listener: s.tcp, RelayAddressGenerator: gen(), PermissionHandler: s.permit})
	}
	if cfg.TLSCert != nil {
		tl, err := cfg.Net.ListenTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(cfg.ListenIP), Port: cfg.TLSPort})
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("turnrelay: tls port %d: %w", cfg.TLSPort, err)
		}
		s.tls = tls.NewListener(tl, &tls.Config{Certificates: []tls.Certificate{*cfg.TLSCert}, MinVersion: tls.VersionTLS12})
		scfg.ListenerConfigs = append(scfg.ListenerConfigs, turn.ListenerConfig{Listener: s.tls, RelayAddressGenerator: gen(), PermissionHandler: s.permit})
	}
	if s.srv, err = turn.NewServer(scfg); err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("turnrelay: %w", err)
	}
	s.log.Info("TURN relay listening", "udp", s.udp.LocalAddr().String(), "tcp", !cfg.NoTCP, "tls", s.TLSAddr())
	return s, nil
}

func (s *Server) closeListeners() {
	s.udp.Close()
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.tls != nil {
		s.tls.Close()
	}
}

// Close stops the relay and every allocation.
func (s *Server) Close() error { return s.srv.Close() }

// Port is the UDP and TCP port.
func (s *Server) Port() int { return s.udp.LocalAddr().(*net.UDPAddr).Port }

// TLSAddr is the TLS listener's address, or "" without TLS.
func (s *Server) TLSAddr() string {
	if s.tls == nil {
		return ""
	}
	return s.tls.Addr().String()
}

// Allocations is the number of live relay allocations.
func (s *Server) Allocations() int { return s.srv.AllocationCount() }

// Refused counts relay permissions refused for peers other than the SFU.
func (s *Server) Refused() uint64 { return s.refused.Load() }

// Credentials returns a username and password for identity, valid for ttl.
func (s *Server) Credentials(identity string, ttl time.Duration) (username, password string) {
	username = strconv.FormatInt(time.Now().Add(ttl).Unix(), 10) + ":" + identity
	return username, sign(s.cfg.Secret, username)
}

// ICEServers returns the relay's URLs for host (the name or address
// browsers reach this server at) with fresh credentials for identity.
func (s *Server) ICEServers(host, identity string, ttl time.Duration) []ICEServer {
	user, pass := s.Credentials(identity, ttl)
	hp := net.JoinHostPort(host, strconv.Itoa(s.Port()))
	urls := []string{"turn:" + hp + "?transport=udp"}
	if s.tcp != nil {
		urls = append(urls, "turn:"+hp+"?transport=tcp")
	}
	if s.tls != nil {
		urls = append(urls, "turns:"+net.JoinHostPort(host, strconv.Itoa(s.tls.Addr().(*net.TCPAddr).Port))+"?transport=tcp")
	}
	return []ICEServer{{URLs: urls, Username: user, Credential: pass}}
}

func sign(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// auth accepts "<expiry unix>:<identity>" usernames signed with the secret
// and not yet expired.
func (s *Server) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	exp, id, ok := strings.Cut(ra.Username, ":")
	if !ok || id == "" || len(ra.Username) > 256 {
		return "", nil, false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Now().Unix() > t {
		s.log.Debug("TURN credential refused", "username", ra.Username, "from", ra.SrcAddr)
		return "", nil, false
	}
	return id, turn.GenerateAuthKey(ra.Username, ra.Realm, sign(s.cfg.Secret, ra.Username)), true
}

// permit lets clients relay only to the SFU.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	for _, ip := range s.cfg.AllowedPeers {
		if ip.Equal(peer) {
			return true
		}
	}
	s.refused.Add(1)
	s.log.Warn("TURN relay to a foreign peer refused", "client", client.String(), "peer", peer.String())
	return false
}

// pionLogs sends pion/turn's logs to slog at debug level (warnings and
// errors keep their level).
type pionLogs struct{ log *slog.Logger }

func (p pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{p.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (pionLogger) Trace(string)                {}
func (pionLogger) Tracef(string, ...any)       {}
func (l pionLogger) Debug(m string)            { l.log.Debug(m) }
func (l pionLogger) Debugf(f string, a ...any) { l.log.Debug(fmt.Sprintf(f, a...)) }
func (l pionLogger) Info(m string)             { l.log.Debug(m) }
func (l pionLogger) Infof(f string, a ...any)  { l.log.Debug(fmt.Sprintf(f, a...)) }
func (l pionLogger) Warn(m string)             { l.log.Warn(m) }
func (l pionLogger) Warnf(f string, a ...any)  { l.log.Warn(fmt.Sprintf(f, a...)) }
func (l pionLogger) Error(m string)            { l.log.Error(m) }
func (l pionLogger) Errorf(f string, a ...any) { l.log.Error(fmt.Sprintf(f, a...)) }
