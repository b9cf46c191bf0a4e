//go:build linux || darwin

package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
)

// fakeBackend is a driver stand-in: a fixed status, recorded commands.
type fakeBackend struct {
	mu   sync.Mutex
	cmds []engine.Command
	feed *driver.Feed
	st   *engine.Status
}

func newFake() *fakeBackend {
	return &fakeBackend{feed: driver.NewFeed(8), st: &engine.Status{Version: 1, Workers: []engine.WorkerStatus{
		{Name: "web", Type: "managed", Replicas: 1, Slots: []engine.ReplicaStatus{{Replica: 1, State: engine.Running, PID: 42, Alive: true}}},
	}}}
}

func (f *fakeBackend) Status() *engine.Status         { return f.st }
func (f *fakeBackend) Wall(d time.Duration) time.Time { return time.Unix(1e9, 0).Add(d) }
func (f *fakeBackend) Feed() *driver.Feed             { return f.feed }
func (f *fakeBackend) Commands(_ context.Context, cmds []engine.Command) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(cmds))
	for i, c := range cmds {
		f.cmds = append(f.cmds, c)
		if c.Worker != "web" && c.Verb != engine.CmdShutdown {
			errs[i] = &driver.CommandError{Code: engine.ErrNotFound, Verb: c.Verb, Worker: c.Worker, Msg: "unknown worker"}
		}
	}
	return errs
}

func newServer(t *testing.T, b Backend) (*Server, *bytes.Buffer) {
	t.Helper()
	var audit bytes.Buffer
	s := New(Options{Backend: b, Audit: &syncWriter{w: &audit}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WriteTimeout: time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, &audit
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func unixClient(sock string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return DialUnix(ctx, sock) },
	}}
}

func serveUnix(t *testing.T, dir string) (*Server, *fakeBackend, *bytes.Buffer, string) {
	t.Helper()
	fb := newFake()
	s, audit := newServer(t, fb)
	sock := filepath.Join(dir, "hsu.sock")
	l, info, err := ListenUnix(sock, "", true)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l, info)
	t.Cleanup(func() { l.Close() })
	return s, fb, audit, sock
}

// TestUnixSocketModes: the socket is 0600 in a 0700 dir, also when the
// dir was wider before.
func TestUnixSocketModes(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	_, _, _, sock := serveUnix(t, dir)
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700}, {sock, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s: mode %04o, want %04o", c.path, got, c.want)
		}
	}
}

// TestRequests: the checks every request passes, on the Unix socket.
func TestRequests(t *testing.T) {
	_, fb, audit, sock := serveUnix(t, t.TempDir())
	hc := unixClient(sock)
	big := bytes.Repeat([]byte(" "), MaxBody+10)
	tests := []struct {
		name, method, path, ctype string
		body                      []byte
		want                      int
		wantBody                  string
	}{
		{"list", "GET", "/v1/workers", "", nil, 200, `"name":"web"`},
		{"get", "GET", "/v1/workers/web", "", nil, 200, `"pid":42`},
		{"get unknown", "GET", "/v1/workers/nope", "", nil, 404, `unknown worker`},
		{"stop", "POST", "/v1/workers/web/stop", "application/json", []byte(`{}`), 200, `"ok":true`},
		{"stop empty body", "POST", "/v1/workers/web/stop", "application/json", nil, 200, `"ok":true`},
		{"stop unknown", "POST", "/v1/workers/nope/stop", "application/json", nil, 404, `unknown worker`},
		{"no content type", "POST", "/v1/workers/web/stop", "", []byte(`{}`), 415, `Content-Type`},
		{"form post", "POST", "/v1/workers/web/stop", "application/x-www-form-urlencoded", []byte(`a=b`), 415, `Content-Type`},
		{"bad json", "POST", "/v1/workers/web/restart", "application/json", []byte(`{"replica":`), 400, `bad JSON`},
		{"unknown field", "POST", "/v1/workers/web/restart", "application/json", []byte(`{"replicaz":1}`), 400, `unknown field`},
		{"too big", "POST", "/v1/workers/web/stop", "application/json", big, 413, `over`},
		{"scale without n", "POST", "/v1/workers/web/scale", "application/json", []byte(`{}`), 400, `replicas`},
		{"unknown verb", "POST", "/v1/workers/web/explode", "application/json", nil, 404, `unknown verb`},
		{"healthz", "GET", "/healthz", "", nil, 200, `"ok"`},
		{"no metrics", "GET", "/metrics", "", nil, 404, `not served`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://hsu"+tt.path, bytes.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.Contains(string(b), tt.wantBody) {
				t.Errorf("%s %s: %d %s, want %d with %q", tt.method, tt.path, resp.StatusCode, b, tt.want, tt.wantBody)
			}
		})
	}
	// Only the accepted stops reached the driver; each mutating call
	// that got that far is audited with the caller's uid.
	fb.mu.Lock()
	n := len(fb.cmds)
	fb.mu.Unlock()
	if n != 3 {
		t.Errorf("%d commands reached the driver, want 3 (two stops of web, one of nope)", n)
	}
	if !strings.Contains(audit.String(), fmt.Sprintf(`"who":"uid %d pid `, os.Getuid())) {
		t.Errorf("audit log %q names no caller", audit.String())
	}
}

// TestOtherUIDRefused runs a client as nobody against a socket made
// world-writable on purpose: SO_PEERCRED still refuses it.
func TestOtherUIDRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	dir, err := os.MkdirTemp("", "hsu-api-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_, _, _, sock := serveUnix(t, dir)
	// Undo the modes that would stop nobody before the check does.
	os.Chmod(dir, 0o755)
	os.Chmod(sock, 0o666)
	exe, _ := os.Executable()
	bin := filepath.Join(dir, "client")
	b, _ := os.ReadFile(exe)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestHelperClient$")
	cmd.Env = []string{"HSU_TEST_CLIENT_SOCKET=" + sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "status 403") {
		t.Errorf("client as nobody got %q, want status 403", out)
	}
}

// TestGroupReadOnly: with --api-group, a member of the group may read
// but not change anything; the socket is 0660 in a 0750 dir.
func TestGroupReadOnly(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	grp, err := lookupGroup("65534")
	if err != nil {
		t.Skip("no gid 65534")
	}
	dir, err := os.MkdirTemp("", "hsu-api-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	fb := newFake()
	s, _ := newServer(t, fb)
	sock := filepath.Join(dir, "hsu.sock")
	l, info, err := ListenUnix(sock, strconv.Itoa(grp), true)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l, info)
	t.Cleanup(func() { l.Close() })
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o750}, {sock, 0o660}} {
		if fi, err := os.Stat(c.path); err != nil || fi.Mode().Perm() != c.want {
			t.Errorf("%s: %v %v, want %04o", c.path, fi.Mode().Perm(), err, c.want)
		}
	}
	exe, _ := os.Executable()
	bin := filepath.Join(dir, "client")
	b, _ := os.ReadFile(exe)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ method, want string }{{"GET", "status 200"}, {"POST", "status 403"}} {
		cmd := exec.Command(bin, "-test.run=^TestHelperClient$")
		cmd.Env = []string{"HSU_TEST_CLIENT_SOCKET=" + sock, "HSU_TEST_CLIENT_METHOD=" + tt.method}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: uint32(grp)}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), tt.want) {
			t.Errorf("%s as a group member: %q, want %s", tt.method, out, tt.want)
		}
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if len(fb.cmds) != 0 {
		t.Errorf("a read-only caller's command reached the driver: %+v", fb.cmds)
	}
}

// TestHelperClient is TestOtherUIDRefused's client, run as nobody.
func TestHelperClient(t *testing.T) {
	sock := os.Getenv("HSU_TEST_CLIENT_SOCKET")
	if sock == "" {
		t.Skip("helper process only")
	}
	req, _ := http.NewRequest("GET", "http://hsu/v1/workers", nil)
	if os.Getenv("HSU_TEST_CLIENT_METHOD") == "POST" {
		req, _ = http.NewRequest("POST", "http://hsu/v1/workers/web/stop", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := unixClient(sock).Do(req)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	resp.Body.Close()
	fmt.Println("status", resp.StatusCode)
}

func serveTCP(t *testing.T, tlsFiles TLSFiles) (string, *fakeBackend) {
	t.Helper()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tokens")
	os.WriteFile(tokFile, []byte("# ops\n  ci : s3cret-ci  \nbare-token\n\n"), 0o600)
	tokens, err := LoadTokens(tokFile, "")
	if err != nil {
		t.Fatal(err)
	}
	fb := newFake()
	s, _ := newServer(t, fb)
	l, info, err := ListenTCP("127.0.0.1:0", tokens, tlsFiles)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l, info)
	t.Cleanup(func() { l.Close() })
	return l.Addr().String(), fb
}

// TestTCPToken: TCP needs a valid token (401 otherwise) and a Host header
// naming the listen address.
func TestTCPToken(t *testing.T) {
	addr, _ := serveTCP(t, TLSFiles{})
	tests := []struct {
		name, auth, host string
		want             int
	}{
		{"no token", "", "", 401},
		{"wrong token", "Bearer nope", "", 401},
		{"prefix of a token", "Bearer s3cret", "", 401},
		{"not bearer", "Basic czNjcmV0LWNp", "", 401},
		{"named token", "Bearer s3cret-ci", "", 200},
		{"bare token", "Bearer bare-token", "", 200},
		{"rebinding host", "Bearer s3cret-ci", "evil.example:80", 421},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr+"/v1/workers", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestLoadTokensNeedsOne(t *testing.T) {
	if _, err := LoadTokens("", ""); err == nil {
		t.Fatal("no token file and no HSU_API_TOKEN: want an error")
	}
	tok, err := LoadTokens("", " from-env ")
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := tok.check("Bearer from-env"); !ok || name != "env" {
		t.Errorf("env token: %q %v", name, ok)
	}
}

// TestTLS serves the TCP API with a test certificate.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := testCert(t, dir)
	addr, _ := serveTCP(t, TLSFiles{Cert: certFile, Key: keyFile})
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", "https://"+addr+"/v1/workers", nil)
	req.Header.Set("Authorization", "Bearer s3cret-ci")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("status %d, tls %v", resp.StatusCode, resp.TLS != nil)
	}
	// Plain HTTP to the TLS port is not served.
	req2, _ := http.NewRequest("GET", "http://"+addr+"/v1/workers", nil)
	req2.Header.Set("Authorization", "Bearer s3cret-ci")
	if resp, err := http.DefaultClient.Do(req2); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP got 200 from the TLS listener")
		}
	}
}

func testCert(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hsu test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// TestLongSocketPath: a state dir too long for a socket address still
// gets its socket, bound and dialled through /proc/self/fd.
func TestLongSocketPath(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(long, 0o700); err != nil {
		t.Fatal(err)
	}
	_, _, _, sock := serveUnix(t, long)
	if len(sock) <= maxSunPath {
		t.Fatalf("path %d bytes: not long enough for the test", len(sock))
	}
	resp, err := unixClient(sock).Get("http://hsu/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestEventsResume: an id from this run resumes after it; an unknown one
// (another run) and a gap the ring no longer holds get a reset.
func TestEventsResume(t *testing.T) {
	_, fb, _, sock := serveUnix(t, t.TempDir())
	for i := 0; i < 5; i++ {
		fb.feed.Add(driver.FeedEvent{Kind: driver.FeedNotice, Reason: fmt.Sprint("e", i+1)}, true)
	}
	run := fb.feed.Run()
	tests := []struct {
		name, lastID string
		want         []string // event names in order, then stop
	}{
		{"resume", run + "-3", []string{"notice e4", "notice e5"}},
		{"other run", "0123456789abcdef-3", []string{"reset"}},
		{"garbage", "xyz", []string{"reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://hsu/v1/events", nil)
			req.Header.Set("Last-Event-ID", tt.lastID)
			resp, err := unixClient(sock).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := readEvents(t, resp.Body, len(tt.want))
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
	// The ring holds 8: after 20 more, resuming from e2 has a gap.
	for i := 0; i < 20; i++ {
		fb.feed.Add(driver.FeedEvent{Kind: driver.FeedNotice, Reason: "later"}, true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://hsu/v1/events", nil)
	req.Header.Set("Last-Event-ID", run+"-2")
	resp, err := unixClient(sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := readEvents(t, resp.Body, 2); got[0] != "reset" || got[1] != "notice later" {
		t.Errorf("after a gap: %q, want reset then the oldest kept", got)
	}
}

// readEvents reads n SSE events: "EVENT REASON" (reset alone).
func readEvents(t *testing.T, r io.Reader, n int) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 1<<16)
	var acc string
	for len(out) < n {
		k, err := r.Read(buf)
		acc += string(buf[:k])
		for {
			i := strings.Index(acc, "\n\n")
			if i < 0 {
				break
			}
			block := acc[:i]
			acc = acc[i+2:]
			var event, reason string
			for _, line := range strings.Split(block, "\n") {
				if v, ok := strings.CutPrefix(line, "event: "); ok {
					event = v
				}
				if v, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(v, `"reason":"`) {
					reason = strings.SplitN(strings.SplitN(v, `"reason":"`, 2)[1], `"`, 2)[0]
				}
			}
			if event == "" {
				continue // a comment (heartbeat)
			}
			if event == "reset" {
				out = append(out, "reset")
			} else {
				out = append(out, event+" "+reason)
			}
		}
		if err != nil {
			break
		}
	}
	return out
}

// TestStalledClientDropped: a follower that stops reading is cut off at
// its write deadline; the server does not wait for it for ever.
func TestStalledClientDropped(t *testing.T) {
	fb := newFake()
	var logBuf syncWriter
	var lb bytes.Buffer
	logBuf.w = &lb
	s := New(Options{Backend: fb, Logger: slog.New(slog.NewTextHandler(&logBuf, nil)), WriteTimeout: 100 * time.Millisecond, Heartbeat: time.Hour})
	sock := filepath.Join(t.TempDir(), "hsu.sock")
	l, info, err := ListenUnix(sock, "", true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go s.Serve(l, info)
	defer s.Shutdown(context.Background())
	c, err := DialUnix(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.UnixConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET /v1/events?from=0 HTTP/1.1\r\nHost: hsu\r\n\r\n")
	// Never read; fill the feed with big events until the server gives up.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(lbString(&logBuf, &lb), "client dropped") {
		if time.Now().After(deadline) {
			t.Fatal("the stalled client was never dropped")
		}
		fb.feed.Add(driver.FeedEvent{Kind: driver.FeedNotice, Reason: strings.Repeat("x", 4096)}, true)
		time.Sleep(time.Millisecond) // pacing the producer, not synchronisation
	}
}

func lbString(w *syncWriter, b *bytes.Buffer) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return b.String()
}

// FuzzCommandRequest: any body gets a 2xx or a 4xx, never a panic or 5xx.
func FuzzCommandRequest(f *testing.F) {
	for _, s := range []string{`{}`, `{"replica":1}`, `{"replicas":3}`, `{"signal":"HUP"}`, `{"rolling":true}`, `[`, `null`, `{"replicas":-1}`} {
		f.Add([]byte(s), "restart")
	}
	fb := newFake()
	// A rolling restart waits for readiness the fake never reaches.
	s := New(Options{Backend: fb, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CommandTimeout: 20 * time.Millisecond})
	f.Fuzz(func(t *testing.T, body []byte, verb string) {
		req, _ := http.NewRequest("POST", "/v1/workers/web/"+verb, bytes.NewReader(body))
		if req == nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond) // a rolling restart waits for its caller
		defer cancel()
		req = req.WithContext(context.WithValue(ctx, peerKey{}, &peer{who: "fuzz"}))
		w := &recorder{h: http.Header{}}
		s.ServeHTTP(w, req)
		if w.code >= 500 {
			t.Fatalf("body %q verb %q: status %d", body, verb, w.code)
		}
	})
}

type recorder struct {
	h    http.Header
	code int
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return len(b), nil
}
func (r *recorder) WriteHeader(c int) { r.code = c }

// TestSocketElsewhere: a --socket outside the state dir changes nothing
// around it: a directory others can write to is refused, a file that is
// not a socket is not removed, and a live server's socket is not taken.
func TestSocketElsewhere(t *testing.T) {
	open := t.TempDir()
	os.Chmod(open, 0o777)
	if _, _, err := ListenUnix(filepath.Join(open, "hsu.sock"), "", false); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("a world-writable dir: %v", err)
	}
	if fi, _ := os.Stat(open); fi.Mode().Perm() != 0o777 {
		t.Errorf("the dir's mode was changed to %04o", fi.Mode().Perm())
	}
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes")
	os.WriteFile(notes, []byte("keep me"), 0o600)
	if _, _, err := ListenUnix(notes, "", false); err == nil {
		t.Error("a regular file in the way was accepted")
	}
	if b, _ := os.ReadFile(notes); string(b) != "keep me" {
		t.Error("the file in the way was removed")
	}
	sock := filepath.Join(dir, "hsu.sock")
	l, _, err := ListenUnix(sock, "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, _, err := ListenUnix(sock, "", false); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a live socket: %v", err)
	}
}
