package api

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// peer is who is calling, as the listener established it.
type peer struct {
	tcp      bool
	listen   string  // TCP: the address the Host header must name
	tokens   *Tokens // TCP: the accepted tokens
	readOnly bool    // a member of the --api-group
	who      string  // for the audit log: "uid 1000 pid 42" or "token:NAME"
}

type peerKey struct{}

func peerOf(ctx context.Context) *peer {
	p, _ := ctx.Value(peerKey{}).(*peer)
	if p == nil {
		return nil
	}
	c := *p // per request: who is filled in by ServeHTTP
	return &c
}

// listenerInfo is what Serve needs to know of a listener.
type listenerInfo struct {
	connContext func(ctx context.Context, c net.Conn) context.Context
	tls         *tls.Config
}

// Tokens are the bearer tokens TCP callers must present.
type Tokens struct {
	names  []string
	tokens [][]byte
}

// LoadTokens reads a token file: one token per line, bare or as
// name:token, whitespace trimmed; blank lines and # comments are skipped.
// env, if not empty, is one more token (HSU_API_TOKEN), named "env".
func LoadTokens(file, env string) (*Tokens, error) {
	t := &Tokens{}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("api token file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, tok, found := strings.Cut(line, ":")
			if !found {
				name, tok = "line "+strconv.Itoa(n), line
			}
			name, tok = strings.TrimSpace(name), strings.TrimSpace(tok)
			if tok == "" {
				return nil, fmt.Errorf("api token file %s:%d: empty token", file, n)
			}
			t.add(name, tok)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("api token file %s: %w", file, err)
		}
	}
	if env = strings.TrimSpace(env); env != "" {
		t.add("env", env)
	}
	if len(t.tokens) == 0 {
		return nil, errors.New("the TCP API needs a token: --api-token-file FILE or HSU_API_TOKEN")
	}
	return t, nil
}

func (t *Tokens) add(name, tok string) {
	t.names = append(t.names, name)
	t.tokens = append(t.tokens, []byte(tok))
}

// check compares the Authorization header with every token in constant
// time (all of them, so the time says nothing about which one is close).
func (t *Tokens) check(header string) (string, bool) {
	if t == nil {
		return "", false
	}
	scheme, got, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	g := []byte(strings.TrimSpace(got))
	match := -1
	for i, tok := range t.tokens {
		if subtle.ConstantTimeCompare(g, tok) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", false
	}
	return t.names[match], true
}

// TLSFiles configures TLS on the TCP listener.
type TLSFiles struct {
	Cert, Key string
	// ClientCA, if set, requires client certificates signed by it.
	ClientCA string
}

// ListenTCP listens on addr (host:port); every request then needs one of
// tokens, and TLS is used when tlsFiles names a certificate.
func ListenTCP(addr string, tokens *Tokens, tlsFiles TLSFiles) (net.Listener, listenerInfo, error) {
	if tokens == nil {
		return nil, listenerInfo{}, errors.New("the TCP API needs a token: --api-token-file FILE or HSU_API_TOKEN")
	}
	var cfg *tls.Config
	if tlsFiles.ClientCA != "" && (tlsFiles.Cert == "" || tlsFiles.Key == "") {
		return nil, listenerInfo{}, errors.New("--api-tls-client-ca needs --api-tls-cert and --api-tls-key: client certificates are checked only over TLS")
	}
	if tlsFiles.Cert != "" || tlsFiles.Key != "" {
		cert, err := tls.LoadX509KeyPair(tlsFiles.Cert, tlsFiles.Key)
		if err != nil {
			return nil, listenerInfo{}, fmt.Errorf("api TLS: %w", err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if tlsFiles.ClientCA != "" {
			pem, err := os.ReadFile(tlsFiles.ClientCA)
			if err != nil {
				return nil, listenerInfo{}, fmt.Errorf("api TLS client CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, listenerInfo{}, fmt.Errorf("api TLS client CA %s: no certificate in it", tlsFiles.ClientCA)
			}
			cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, listenerInfo{}, fmt.Errorf("api: %w", err)
	}
	listen := addr
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		listen = l.Addr().String() // a port picked by the kernel (tests)
	}
	p := &peer{tcp: true, listen: listen, tokens: tokens}
	return l, listenerInfo{tls: cfg, connContext: func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, peerKey{}, p)
	}}, nil
}
