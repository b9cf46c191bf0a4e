package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hsu-run/hsu/config"
)

func withTimeout(p config.Probe, d time.Duration) *config.Probe {
	p.Timeout = config.Duration(d)
	return &p
}

// checkErr fails t unless err matches want: "" means nil, otherwise every
// "|"-separated part must appear in the message.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("want pass, got %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want failure containing %q, got pass", want)
	}
	for _, part := range strings.Split(want, "|") {
		if !strings.Contains(err.Error(), part) {
			t.Fatalf("error %q does not contain %q", err, part)
		}
	}
}

// freePort returns an address on 127.0.0.1 nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestNoKind(t *testing.T) {
	checkErr(t, Run(context.Background(), &config.Probe{}, Target{}), "no kind")
	checkErr(t, Run(context.Background(), nil, Target{}), "nil probe")
}

// ---- http ----

type seenRequest struct {
	method, host, header string
	close                bool
}

func newHTTPServer(t *testing.T) (*httptest.Server, *sync.Mutex, *[]seenRequest, *int) {
	var (
		mu     sync.Mutex
		seen   []seenRequest
		target int
	)
	done := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		if code >= 400 {
			w.WriteHeader(code)
			fmt.Fprintf(w, "  bad\nthing %d\x01", code)
			return
		}
		w.WriteHeader(code)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		target++
		mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, seenRequest{r.Method, r.Host, r.Header.Get("X-Probe"), r.Close})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: frees hanging handlers
	return srv, &mu, &seen, &target
}

func TestHTTP(t *testing.T) {
	srv, mu, _, target := newHTTPServer(t)
	cases := []struct {
		name, path, want string
	}{
		{"200", "/status/200", ""},
		{"204", "/status/204", ""},
		{"301 not followed", "/redirect", ""},
		{"404", "/status/404", "http GET " + srv.URL + "/status/404: status 404: bad thing 404"},
		{"503", "/status/503", "http GET " + srv.URL + "/status/503: status 503"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := withTimeout(config.Probe{HTTP: &config.HTTPProbe{URL: srv.URL + c.path}}, 2*time.Second)
			checkErr(t, Run(context.Background(), p, Target{}), c.want)
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if *target != 0 {
		t.Errorf("redirect was followed %d times", *target)
	}
}

func TestHTTPMethodAndHeaders(t *testing.T) {
	srv, mu, seen, _ := newHTTPServer(t)
	for _, m := range []string{"", "GET", "head", "POST"} {
		p := withTimeout(config.Probe{HTTP: &config.HTTPProbe{
			URL:     srv.URL + "/echo",
			Method:  m,
			Headers: map[string]string{"X-Probe": "yes-" + m, "Host": "example.test"},
		}}, 2*time.Second)
		checkErr(t, Run(context.Background(), p, Target{}), "")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []seenRequest{
		{"GET", "example.test", "yes-", true},
		{"GET", "example.test", "yes-GET", true},
		{"HEAD", "example.test", "yes-head", true},
		{"POST", "example.test", "yes-POST", true},
	}
	if fmt.Sprint(*seen) != fmt.Sprint(want) {
		t.Fatalf("server saw %+v, want %+v", *seen, want)
	}
}

func TestHTTPHangTimesOut(t *testing.T) {
	srv, _, _, _ := newHTTPServer(t)
	const timeout = 300 * time.Millisecond
	p := withTimeout(config.Probe{HTTP: &config.HTTPProbe{URL: srv.URL + "/hang"}}, timeout)
	start := time.Now()
	err := Run(context.Background(), p, Target{})
	elapsed := time.Since(start)
	checkErr(t, err, "http GET "+srv.URL+"/hang: timed out after 300ms")
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("error %v is not ErrTimeout", err)
	}
	if elapsed < timeout || elapsed > timeout+700*time.Millisecond {
		t.Errorf("returned after %v, want about %v", elapsed, timeout)
	}
}

func TestHTTPCanceled(t *testing.T) {
	srv, _, _, _ := newHTTPServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, withTimeout(config.Probe{HTTP: &config.HTTPProbe{URL: srv.URL + "/status/200"}}, time.Second), Target{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestHTTPSVerifies(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	p := withTimeout(config.Probe{HTTP: &config.HTTPProbe{URL: srv.URL}}, 2*time.Second)
	checkErr(t, Run(context.Background(), p, Target{}), "certificate")
}

func TestHTTPRefused(t *testing.T) {
	addr := freePort(t)
	p := withTimeout(config.Probe{HTTP: &config.HTTPProbe{URL: "http://" + addr + "/"}}, 2*time.Second)
	checkErr(t, Run(context.Background(), p, Target{}), "http GET http://"+addr+"/: connect: connection refused")
}

// ---- tcp ----

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed := freePort(t)
	cases := []struct{ name, addr, want string }{
		{"open", ln.Addr().String(), ""},
		{"closed", closed, "tcp " + closed + ": connect: connection refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := withTimeout(config.Probe{TCP: &config.TCPProbe{Address: c.addr}}, 2*time.Second)
			checkErr(t, Run(context.Background(), p, Target{}), c.want)
		})
	}
}

// ---- grpc ----

// healthServer is a grpc.health.v1 server written with net/http only.
type healthServer struct {
	mu       sync.Mutex
	services []string
}

func (h *healthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 || r.Method != http.MethodPost || r.URL.Path != "/grpc.health.v1.Health/Check" ||
		r.Header.Get("Content-Type") != "application/grpc" || r.Header.Get("Te") != "trailers" {
		http.Error(w, fmt.Sprintf("bad request %s %s %s %v", r.Proto, r.Method, r.URL.Path, r.Header), http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) < 5 || body[0] != 0 || int(binary.BigEndian.Uint32(body[1:5])) != len(body)-5 {
		http.Error(w, "bad frame", http.StatusBadRequest)
		return
	}
	var svc string
	if msg := body[5:]; len(msg) > 0 {
		if msg[0] != 0x0a || int(msg[1]) != len(msg)-2 {
			http.Error(w, "bad message", http.StatusBadRequest)
			return
		}
		svc = string(msg[2:])
	}
	h.mu.Lock()
	h.services = append(h.services, svc)
	h.mu.Unlock()

	w.Header().Set("Content-Type", "application/grpc")
	switch svc {
	case "unimplemented": // trailers-only response: status in the headers
		w.Header().Set("Grpc-Status", "12")
		w.Header().Set("Grpc-Message", "unknown service grpc.health.v1.Health")
		w.WriteHeader(http.StatusOK)
		return
	case "unavailable": // error status in the trailers
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.WriteHeader(http.StatusOK)
		w.Header().Set("Grpc-Status", "14")
		w.Header().Set("Grpc-Message", "down%20for%20maintenance")
		return
	}
	status := map[string]byte{"": 1, "api": 1, "db": 2, "ghost": 3}[svc]
	w.Header().Set("Trailer", "Grpc-Status")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte{0, 0, 0, 0, 2, 0x08, status})
	w.Header().Set(http.TrailerPrefix+"Grpc-Message", "") // exercise TrailerPrefix too
	w.Header().Set("Grpc-Status", "0")
}

func (h *healthServer) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.services...)
}

func startHealthServer(t *testing.T) (*healthServer, string) {
	t.Helper()
	h := &healthServer{}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &protos}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return h, ln.Addr().String()
}

func TestGRPC(t *testing.T) {
	h, addr := startHealthServer(t)
	closed := freePort(t)
	cases := []struct {
		name, addr, listen, service, want string
	}{
		{"serving", addr, "", "", ""},
		{"serving service", addr, "", "api", ""},
		{"default to listen", "", addr, "api", ""},
		{"not serving", addr, "", "db", `grpc ` + addr + ` service "db": status NOT_SERVING`},
		{"service unknown", addr, "", "ghost", "status SERVICE_UNKNOWN"},
		{"unimplemented", addr, "", "unimplemented", "grpc-status 12 UNIMPLEMENTED: unknown service grpc.health.v1.Health"},
		{"error in trailers", addr, "", "unavailable", "grpc-status 14 UNAVAILABLE: down for maintenance"},
		{"not listening", closed, "", "", "grpc " + closed + ": |connection refused"},
		{"no address", "", "", "", "no address"},
	}
	var wantSeen []string
	for _, c := range cases {
		if c.addr == addr || c.listen == addr {
			wantSeen = append(wantSeen, c.service)
		}
		t.Run(c.name, func(t *testing.T) {
			p := withTimeout(config.Probe{GRPC: &config.GRPCProbe{Address: c.addr, Service: c.service}}, 2*time.Second)
			checkErr(t, Run(context.Background(), p, Target{Listen: c.listen}), c.want)
		})
	}
	if got := h.seen(); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", wantSeen) {
		t.Errorf("server received services %q, want %q", got, wantSeen)
	}
}

func TestGRPCHangTimesOut(t *testing.T) {
	// Accepts the connection but never speaks HTTP/2.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	const timeout = 300 * time.Millisecond
	start := time.Now()
	err = Run(context.Background(), withTimeout(config.Probe{GRPC: &config.GRPCProbe{Address: ln.Addr().String()}}, timeout), Target{})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("want timeout, got %v", err)
	}
	if d := time.Since(start); d > timeout+700*time.Millisecond {
		t.Errorf("returned after %v", d)
	}
}

func TestParseHealthCheckResponse(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want uint64
		err  bool
	}{
		{"serving", []byte{0, 0, 0, 0, 2, 0x08, 1}, 1, false},
		{"empty is unknown", []byte{0, 0, 0, 0, 0}, 0, false},
		{"unknown fields skipped", []byte{0, 0, 0, 0, 11, 0x12, 2, 'h', 'i', 0x08, 2, 0x1d, 1, 2, 3, 4}, 2, false},
		{"short frame", []byte{0, 0, 0}, 0, true},
		{"compressed", []byte{1, 0, 0, 0, 2, 0x08, 1}, 0, true},
		{"length past end", []byte{0, 0, 0, 0, 9, 0x08, 1}, 0, true},
		{"truncated varint", []byte{0, 0, 0, 0, 2, 0x08, 0x80}, 0, true},
	}
	for _, c := range cases {
		got, err := parseHealthCheckResponse(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("%s: got %d, %v; want %d, err=%v", c.name, got, err, c.want, c.err)
		}
	}
	if req := healthCheckRequest("api"); !bytes.Equal(req, []byte{0, 0, 0, 0, 5, 0x0a, 3, 'a', 'p', 'i'}) {
		t.Errorf("healthCheckRequest(api) = %v", req)
	}
	if req := healthCheckRequest(""); !bytes.Equal(req, []byte{0, 0, 0, 0, 0}) {
		t.Errorf("healthCheckRequest() = %v", req)
	}
	for d, want := range map[time.Duration]string{time.Second: "1000m", 1500 * time.Microsecond: "2m", 0: "1m", 100000 * time.Second: "100000S"} {
		if got := grpcTimeout(d); got != want {
			t.Errorf("grpcTimeout(%v) = %q, want %q", d, got, want)
		}
	}
}

// ---- exec ----

func needUnix(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("uses sh and /proc")
	}
}

func TestExec(t *testing.T) {
	needUnix(t)
	dir := t.TempDir()
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cmd  []string
		env  []string
		dir  string
		want string
	}{
		{"true", []string{"true"}, nil, "", ""},
		{"false", []string{"false"}, nil, "", "exec [false]: exit status 1"},
		{"output quoted", []string{"sh", "-c", "echo to-out; echo to-err >&2; exit 3"}, nil, "", `exit status 3: "to-out\nto-err"`},
		{"long output keeps the tail", []string{"sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done; exit 1"}, nil, "", `"...|line199"`},
		{"env and dir", []string{"sh", "-c", `[ "$PROBE_VAR" = yes ] && [ "$(pwd -P)" = "$WANT_DIR" ]`},
			[]string{"PROBE_VAR=yes", "WANT_DIR=" + realDir, "PATH=" + os.Getenv("PATH")}, dir, ""},
		{"env replaces", []string{"sh", "-c", `[ "$PROBE_VAR" = yes ]`}, []string{"PATH=" + os.Getenv("PATH")}, "", "exit status 1"},
		{"missing binary", []string{filepath.Join(dir, "nope")}, nil, "", "no such file"},
		{"empty", nil, nil, "", "no command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := withTimeout(config.Probe{Exec: &config.ExecProbe{Command: c.cmd}}, 5*time.Second)
			checkErr(t, Run(context.Background(), p, Target{Env: c.env, Dir: c.dir}), c.want)
		})
	}
}

// procDead reports whether pid is gone or a zombie (reparented zombies may
// wait for a init that never reaps them, e.g. in containers).
func procDead(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// readPid waits (up to a deadline) for the pid file a test command writes.
func readPid(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s (%q)", file, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	t.Cleanup(func() { // whatever happens, leave nothing running
		if p, err := os.FindProcess(pid); err == nil && !procDead(pid) {
			p.Kill()
		}
	})
	deadline := time.Now().Add(2 * time.Second)
	for !procDead(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExecTimeoutKillsGroup(t *testing.T) {
	needUnix(t)
	const timeout = 500 * time.Millisecond
	cases := []struct{ name, script string }{
		{"grandchild holds output, shell waits", `sleep 60 & echo $! > "$1"; wait`},
		{"grandchild holds output, shell sleeps", `sleep 60 & echo $! > "$1"; sleep 60`},
		{"grandchild detached from output", `sleep 60 >/dev/null 2>&1 & echo $! > "$1"; wait`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "pid")
			p := withTimeout(config.Probe{Exec: &config.ExecProbe{Command: []string{"sh", "-c", c.script, "sh", file}}}, timeout)
			start := time.Now()
			err := Run(context.Background(), p, Target{})
			elapsed := time.Since(start)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("want timeout, got %v", err)
			}
			checkErr(t, err, "exec [sh -c|timed out after 500ms")
			if elapsed > timeout+time.Second {
				t.Errorf("returned after %v, want within %v", elapsed, timeout+time.Second)
			}
			waitDead(t, readPid(t, file))
		})
	}
}

func TestExecExitWithGrandchildHoldingOutput(t *testing.T) {
	needUnix(t)
	file := filepath.Join(t.TempDir(), "pid")
	p := withTimeout(config.Probe{Exec: &config.ExecProbe{Command: []string{"sh", "-c", `sleep 60 & echo $! > "$1"; exit 0`, "sh", file}}}, 5*time.Second)
	start := time.Now()
	checkErr(t, Run(context.Background(), p, Target{}), "")
	if d := time.Since(start); d > execWaitDelay+time.Second {
		t.Errorf("returned after %v", d)
	}
	waitDead(t, readPid(t, file))
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ij"} {
		b.Write([]byte(s))
	}
	if got := b.suffix(); got != `: "...cdefghij"` {
		t.Errorf("suffix = %s", got)
	}
	b = &tailBuffer{max: 4}
	b.Write([]byte("0123456789"))
	if got := b.suffix(); got != `: "...6789"` {
		t.Errorf("suffix = %s", got)
	}
	b = &tailBuffer{max: 4}
	b.Write([]byte("  "))
	if got := b.suffix(); got != "" {
		t.Errorf("suffix = %q", got)
	}
}

// ---- process ----

func TestProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses true")
	}
	reaped := exec.Command("true")
	if err := reaped.Run(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		pid  int
		want string
	}{
		{"self", os.Getpid(), ""},
		{"reaped child", reaped.Process.Pid, fmt.Sprintf("process %d: not running", reaped.Process.Pid)},
		{"no pid", 0, "no pid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := withTimeout(config.Probe{Process: &config.ProcessProbe{}}, time.Second)
			checkErr(t, Run(context.Background(), p, Target{PID: c.pid}), c.want)
		})
	}
}

func TestProcessZombie(t *testing.T) {
	needUnix(t)
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	p := withTimeout(config.Probe{Process: &config.ProcessProbe{}}, time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := Run(context.Background(), p, Target{PID: cmd.Process.Pid})
		if err != nil {
			checkErr(t, err, "zombie")
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("exited child still probes alive")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
