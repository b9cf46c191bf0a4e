// Package api is hsu's control surface: HTTP/JSON under /v1/ on a Unix
// socket (by default) or on TCP with a bearer token, as DESIGN.md §6
// describes. It reads the driver's published status and event feed and
// sends commands through the driver; it never touches the engine.
//
// Safe by default: the socket is 0600 (0660 for a read-only group) in a
// 0700 (0750) state dir and the peer's uid is checked with SO_PEERCRED;
// TCP needs a token, compared in constant time, and a Host header naming
// the listen address; every mutating call needs Content-Type
// application/json (no cross-site form posts), has a 1 MiB body limit,
// and is audited. Slow clients are bounded by write deadlines.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/logs"
)

// Backend is what the API serves: the driver on the real OS.
type Backend interface {
	Status() *engine.Status
	Wall(at time.Duration) time.Time
	Commands(ctx context.Context, cmds []engine.Command) []error
	Feed() *driver.Feed
}

// Options configures a Server.
type Options struct {
	Backend Backend
	Logs    *logs.Hub
	Logger  *slog.Logger
	// Reload re-reads the config file and applies it (or, with dry, only
	// compares it). A config error is returned as it is (with positions).
	Reload func(ctx context.Context, dry bool) (engine.Diff, error)
	// Health lists why hsu is degraded (nothing: healthy).
	Health func() []string
	// Metrics serves /metrics (nil: 404).
	Metrics http.Handler
	// Audit receives one JSON line per mutating call (nil: feed only).
	Audit io.Writer
	// Reexec asks hsu to replace itself with the hsu binary on disk,
	// keeping its workers; it returns once the request is accepted (the
	// exec follows once the reply is sent), or why it cannot be (nil:
	// 501).
	Reexec func(ctx context.Context) error
	// Hsu is this hsu process, shown in the status.
	Hsu HsuInfo
	// WriteTimeout bounds each write to a client (default 10 s): a client
	// that stops reading is disconnected once it passes.
	WriteTimeout time.Duration
	// Heartbeat is the event stream's keep-alive period (default 15 s).
	Heartbeat time.Duration
	// CommandTimeout bounds a command's wait for its durable answer
	// (default 30 s).
	CommandTimeout time.Duration
}

// Server is the HTTP handler of the API; Serve it on listeners made by
// ListenUnix or ListenTCP.
type Server struct {
	opt     Options
	log     *slog.Logger
	mux     *http.ServeMux
	auditMu sync.Mutex

	cacheMu  sync.Mutex
	cache    []byte // GET /v1/workers of the snapshot cacheKey names
	cacheKey string

	mu      sync.Mutex
	servers []*http.Server
	closing chan struct{}
}

// ErrNoUnixAPI: this platform serves the API on TCP only.
var ErrNoUnixAPI = errors.New("the Unix-socket API is not supported on this platform: use --api tcp://127.0.0.1:PORT with a token")

// MaxBody is the largest request body accepted (413 beyond).
const MaxBody = 1 << 20

// New returns a server.
func New(opt Options) *Server {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 10 * time.Second
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 15 * time.Second
	}
	if opt.CommandTimeout <= 0 {
		opt.CommandTimeout = 30 * time.Second
	}
	s := &Server{opt: opt, log: opt.Logger, mux: http.NewServeMux(), closing: make(chan struct{})}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /v1/workers", s.listWorkers)
	m.HandleFunc("GET /v1/workers/{name}", s.getWorker)
	m.HandleFunc("POST /v1/workers/{name}/{verb}", s.command)
	m.HandleFunc("GET /v1/workers/{name}/logs", s.logs)
	m.HandleFunc("GET /v1/events", s.events)
	m.HandleFunc("POST /v1/reload", s.reload)
	m.HandleFunc("POST /v1/shutdown", s.shutdown)
	m.HandleFunc("POST /v1/reexec", s.reexec)
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.opt.Metrics == nil {
			httpError(w, http.StatusNotFound, "metrics are not served")
			return
		}
		s.deadline(w)
		s.opt.Metrics.ServeHTTP(w, r)
	})
}

// ServeHTTP applies the checks every request goes through, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := peerOf(r.Context())
	if p == nil {
		httpError(w, http.StatusForbidden, "unidentified caller")
		return
	}
	if p.tcp {
		if !hostAllowed(r.Host, p.listen) {
			// DNS rebinding: a browser tricked into calling us names
			// another host.
			httpError(w, http.StatusMisdirectedRequest, "Host "+strconv.Quote(r.Host)+" is not this server's address "+p.listen)
			return
		}
		name, ok := p.tokens.check(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hsu"`)
			httpError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		p.who = "token:" + name
	}
	mutating := r.Method != http.MethodGet && r.Method != http.MethodHead
	if mutating {
		r = r.WithContext(context.WithValue(r.Context(), peerKey{}, p))
		refuse := func(status int, msg string) {
			s.audit(r, r.Method+" "+r.URL.Path, "", "refused: "+msg)
			httpError(w, status, msg)
		}
		if p.readOnly {
			refuse(http.StatusForbidden, "read-only access (group member): "+r.Method+" is not allowed")
			return
		}
		if !isJSON(r.Header.Get("Content-Type")) {
			refuse(http.StatusUnsupportedMediaType, "a "+r.Method+" needs Content-Type: application/json")
			return
		}
		if r.ContentLength > MaxBody {
			refuse(http.StatusRequestEntityTooLarge, "the body is over "+strconv.Itoa(MaxBody)+" bytes")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	}
	r = r.WithContext(context.WithValue(r.Context(), peerKey{}, p))
	s.mux.ServeHTTP(w, r)
}

func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// hostAllowed: the Host header must be the listen address (or, for a
// loopback listener, localhost with its port).
func hostAllowed(host, listen string) bool {
	if host == listen {
		return true
	}
	h, port, err := net.SplitHostPort(host)
	lh, lport, lerr := net.SplitHostPort(listen)
	if err != nil || lerr != nil || port != lport {
		return false
	}
	loopback := func(x string) bool {
		ip := net.ParseIP(x)
		return strings.EqualFold(x, "localhost") || ip != nil && ip.IsLoopback()
	}
	if loopback(lh) && loopback(h) {
		return true
	}
	if ip := net.ParseIP(lh); lh == "" || ip != nil && ip.IsUnspecified() {
		// Listening on every address: the Host may name any of them, but
		// only by address (a DNS name is what a rebinding attack uses).
		return net.ParseIP(h) != nil || strings.EqualFold(h, "localhost")
	}
	return h == lh
}

// Serve serves the API on l until Shutdown.
func (s *Server) Serve(l net.Listener, info listenerInfo) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       info.connContext,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if info.tls != nil {
		hs.TLSConfig = info.tls
	}
	s.mu.Lock()
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	var err error
	if info.tls != nil {
		err = hs.ServeTLS(l, "", "")
	} else {
		err = hs.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown ends streams at once and waits up to ctx for other requests.
func (s *Server) Shutdown(ctx context.Context) {
	s.mu.Lock()
	select {
	case <-s.closing:
	default:
		close(s.closing)
	}
	servers := s.servers
	s.mu.Unlock()
	for _, hs := range servers {
		if hs.Shutdown(ctx) != nil {
			hs.Close()
		}
	}
}

// --- replies ---

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

func httpError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the reply failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// commandStatus maps a refused command to its HTTP status.
func commandStatus(err error) (int, string) {
	var ce *driver.CommandError
	if errors.As(err, &ce) {
		switch ce.Code {
		case engine.ErrNotFound:
			return http.StatusNotFound, ce.Code.String()
		case engine.ErrConflict, engine.ErrShuttingDown:
			return http.StatusConflict, ce.Code.String()
		default:
			return http.StatusBadRequest, ce.Code.String()
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout, "timeout"
	}
	return http.StatusInternalServerError, ""
}

// deadline sets the write deadline of the reply (every streamed write
// sets its own).
func (s *Server) deadline(w http.ResponseWriter) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opt.WriteTimeout))
}

// --- status ---

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) {
	s.deadline(w)
	var names map[string]bool
	if q := r.URL.Query().Get("names"); q != "" {
		names = map[string]bool{}
		for _, n := range strings.Split(q, ",") {
			names[n] = true
		}
	}
	st := s.opt.Backend.Status()
	var degraded []string
	if s.opt.Health != nil {
		degraded = s.opt.Health()
	}
	if names == nil {
		// The whole list is encoded once per published snapshot: hsu
		// status and dashboards poll it.
		key := strconv.FormatUint(st.Version, 10) + "\x00" + strings.Join(degraded, "\x00")
		s.cacheMu.Lock()
		b := s.cache
		if s.cacheKey != key || b == nil {
			v := statusView(st, s.opt.Backend.Wall, nil)
			v.Degraded = degraded
			s.opt.Hsu.fill(&v)
			b, _ = json.Marshal(v)
			b = append(b, '\n')
			s.cache, s.cacheKey = b, key
		}
		s.cacheMu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	v := statusView(st, s.opt.Backend.Wall, names)
	v.Degraded = degraded
	s.opt.Hsu.fill(&v)
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) getWorker(w http.ResponseWriter, r *http.Request) {
	s.deadline(w)
	st := s.opt.Backend.Status()
	name := r.PathValue("name")
	for i := range st.Workers {
		if st.Workers[i].Name == name {
			writeJSON(w, http.StatusOK, workerView(&st.Workers[i], st.At, s.opt.Backend.Wall))
			return
		}
	}
	writeJSON(w, http.StatusNotFound, errorBody{Error: "unknown worker " + strconv.Quote(name), Code: engine.ErrNotFound.String()})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.deadline(w)
	var why []string
	if s.opt.Health != nil {
		why = s.opt.Health()
	}
	if len(why) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "degraded", "reasons": why})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

// --- commands ---

// CommandRequest is the body of POST /v1/workers/{name}/{verb}; every
// field is optional except replicas for scale and signal for signal.
type CommandRequest struct {
	Replica  int    `json:"replica,omitempty"`
	Replicas *int   `json:"replicas,omitempty"`
	Signal   string `json:"signal,omitempty"`
	// Rolling restarts one replica at a time, each only once the one
	// before is ready again; the rollout stops at the first failure.
	Rolling bool `json:"rolling,omitempty"`
}

// CommandResult is a command's reply: one entry per worker named.
type CommandResult struct {
	Results []WorkerResult `json:"results"`
}

// WorkerResult is the answer for one worker.
type WorkerResult struct {
	Worker string `json:"worker"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Code   string `json:"code,omitempty"`
}

var verbs = map[string]engine.Verb{
	"start": engine.CmdStart, "stop": engine.CmdStop, "restart": engine.CmdRestart,
	"scale": engine.CmdScale, "signal": engine.CmdSignal,
}

// decode reads a JSON body (an empty one is the zero value); unknown
// fields are refused so a typo is not silently ignored.
func decode(r *http.Request, v any) (int, error) {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		return 0, nil
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over %d bytes", MaxBody)
	}
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("bad JSON body: %w", err)
	}
	if dec.More() {
		return http.StatusBadRequest, errors.New("bad JSON body: more than one value")
	}
	return 0, nil
}

// names resolves a {name} path element: "all", or names joined by commas.
func (s *Server) names(spec string) []string {
	if spec == "all" {
		st := s.opt.Backend.Status()
		out := make([]string, 0, len(st.Workers))
		for _, w := range st.Workers {
			out = append(out, w.Name)
		}
		return out
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range strings.Split(spec, ",") {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	verbName := r.PathValue("verb")
	verb, ok := verbs[verbName]
	if !ok {
		httpError(w, http.StatusNotFound, "unknown verb "+strconv.Quote(verbName)+": start, stop, restart, scale or signal")
		return
	}
	var req CommandRequest
	if code, err := decode(r, &req); err != nil {
		s.audit(r, verbName, r.PathValue("name"), err.Error())
		httpError(w, code, err.Error())
		return
	}
	names := s.names(r.PathValue("name"))
	if len(names) == 0 {
		httpError(w, http.StatusBadRequest, "no worker named")
		return
	}
	cmds := make([]engine.Command, len(names))
	for i, n := range names {
		cmds[i] = engine.Command{Verb: verb, Worker: n, Replica: req.Replica, Signal: req.Signal}
	}
	switch verb {
	case engine.CmdScale:
		if req.Replicas == nil {
			httpError(w, http.StatusBadRequest, `scale needs "replicas"`)
			return
		}
		for i := range cmds {
			cmds[i].N = *req.Replicas
		}
	case engine.CmdSignal:
		if req.Signal == "" {
			httpError(w, http.StatusBadRequest, `signal needs "signal"`)
			return
		}
	}
	var errs []error
	if req.Rolling && verb == engine.CmdRestart {
		// As long as the rollout takes: the caller's own deadline (hsu
		// restart --rolling --timeout) bounds it.
		errs = s.rolling(r.Context(), cmds)
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), s.opt.CommandTimeout)
		defer cancel()
		errs = s.opt.Backend.Commands(ctx, cmds)
	}
	res := CommandResult{Results: make([]WorkerResult, len(names))}
	status := http.StatusOK
	for i, err := range errs {
		res.Results[i] = WorkerResult{Worker: names[i], OK: err == nil}
		result := "ok"
		if err != nil {
			st, code := commandStatus(err)
			if status == http.StatusOK || st > status {
				status = st
			}
			res.Results[i].Error, res.Results[i].Code = err.Error(), code
			result = err.Error()
		}
		s.audit(r, verbName, names[i], result)
	}
	s.deadline(w)
	writeJSON(w, status, res)
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	dry := r.URL.Query().Get("dry_run")
	isDry := dry == "1" || dry == "true"
	var empty struct{}
	if code, err := decode(r, &empty); err != nil {
		httpError(w, code, err.Error())
		return
	}
	if s.opt.Reload == nil {
		httpError(w, http.StatusNotImplemented, "reload is not available")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.CommandTimeout)
	defer cancel()
	diff, err := s.opt.Reload(ctx, isDry)
	verb := "reload"
	if isDry {
		verb = "reload --dry-run"
	}
	s.deadline(w)
	if err != nil {
		status, code := commandStatus(err)
		var ce *ConfigError
		if errors.As(err, &ce) {
			status, code = http.StatusUnprocessableEntity, "invalid_config"
		}
		s.audit(r, verb, "", err.Error())
		writeJSON(w, status, errorBody{Error: err.Error(), Code: code})
		return
	}
	s.audit(r, verb, "", "ok")
	writeJSON(w, http.StatusOK, diff)
}

// ConfigError is a reload refused because the file is invalid: Msg lists
// every error with file:line:col.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

func (s *Server) shutdown(w http.ResponseWriter, r *http.Request) {
	var empty struct{}
	if code, err := decode(r, &empty); err != nil {
		httpError(w, code, err.Error())
		return
	}
	// Answered once the shutdown is recorded, not once it is done: the
	// caller follows it (hsu shutdown waits for the socket to go).
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.CommandTimeout)
	defer cancel()
	err := s.opt.Backend.Commands(ctx, []engine.Command{{Verb: engine.CmdShutdown}})[0]
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	s.audit(r, "shutdown", "", result)
	s.deadline(w)
	if err != nil {
		status, code := commandStatus(err)
		writeJSON(w, status, errorBody{Error: err.Error(), Code: code})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "shutting down"})
}

// HsuInfo is the hsu process the API belongs to: a caller of reexec
// tells the new process from the old by Started (the PID stays).
type HsuInfo struct {
	Version string
	Started time.Time
	PID     int
}

func (h HsuInfo) fill(v *StatusView) {
	v.HsuVersion, v.HsuPID = h.Version, h.PID
	if !h.Started.IsZero() {
		t := h.Started
		v.HsuStarted = &t
	}
}

func (s *Server) reexec(w http.ResponseWriter, r *http.Request) {
	var empty struct{}
	if code, err := decode(r, &empty); err != nil {
		httpError(w, code, err.Error())
		return
	}
	if s.opt.Reexec == nil {
		httpError(w, http.StatusNotImplemented, "reexec is not available")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.CommandTimeout)
	defer cancel()
	err := s.opt.Reexec(ctx)
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	s.audit(r, "reexec", "", result)
	s.deadline(w)
	if err != nil {
		status, code := commandStatus(err)
		var re *ReexecError
		if errors.As(err, &re) {
			status, code = http.StatusConflict, "reexec_refused"
		}
		writeJSON(w, status, errorBody{Error: err.Error(), Code: code})
		return
	}
	// Accepted, not done: hsu execs once this reply is out (its API
	// waits for handlers to finish before it closes).
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "re-executing"})
}

// ReexecError is a reexec refused before anything was stopped (the
// binary does not run, hsu is shutting down): hsu runs on as it was.
type ReexecError struct{ Msg string }

func (e *ReexecError) Error() string { return e.Msg }

// audit records a mutating call: in the audit log and on the feed.
func (s *Server) audit(r *http.Request, verb, worker, result string) {
	p := peerOf(r.Context())
	who := "unknown"
	if p != nil {
		who = p.who
	}
	now := time.Now().UTC()
	if f := s.opt.Backend.Feed(); f != nil {
		f.Add(driver.FeedEvent{Kind: driver.FeedCommand, Verb: verb, Worker: worker, Who: who, Result: result, Wall: now}, true)
	}
	if s.opt.Audit == nil {
		return
	}
	b, _ := json.Marshal(struct {
		Time   time.Time `json:"time"`
		Who    string    `json:"who"`
		Verb   string    `json:"verb"`
		Worker string    `json:"worker,omitempty"`
		Path   string    `json:"path"`
		Result string    `json:"result"`
	}{now, who, verb, worker, r.URL.Path, result})
	s.auditMu.Lock()
	s.opt.Audit.Write(append(b, '\n'))
	s.auditMu.Unlock()
}
