// Command hsu-testworker is a real program that acts out every behaviour the
// simulator's fake processes have (scenario.Behaviour, DESIGN.md §4), so one
// scenario vocabulary covers the simulated and the real world: hsu's Linux
// adapter, probes, log capture and benchmarks are tested against it.
//
// Behaviour keys and their flags:
//
//	start_delay      --start-delay D     no listener, no health, no ready line before D
//	exit_after       --exit-after D      exit D after start (0: never; see --print-lines)
//	exit_code        --exit-code N       code of that exit
//	exit_signal      --exit-signal SIG   die by SIG instead (KILL, SEGV, ABRT, TERM, ...)
//	ignore_sigterm   --ignore-sigterm    TERM, INT, HUP and QUIT are ignored; only KILL ends it
//	memory.start     --alloc-start SIZE  allocate and touch SIZE at start
//	memory.grow      --alloc RATE        then grow by RATE (10Mi/s, 100Mi/min, 1Gi/h)
//	                 --alloc-max SIZE    stop growing at SIZE (0: no cap)
//	cpu              --cpu CORES         burn about CORES cores (1.5, 500m, 150%)
//	unhealthy_after  --unhealthy-after D health fails from D after start
//	recover_after    --recover-after D   and passes again D later (0: never)
//	children         --children N        fork N grandchildren (re-exec in --child mode)
//	                 --setsid-children   they call setsid: they escape the process group
//	spawn_error      (none: a spawn that fails never runs this program)
//
// Health is served over HTTP (/healthz, /ready: 200 healthy, 503 not) on
// --listen ADDR, opened only once --start-delay has passed (so TCP probes
// fail before), or at once with --listen-early. With systemd socket
// activation (LISTEN_FDS=N, LISTEN_PID unset or equal to our pid; a parent
// cannot know the pid before exec, so unset is accepted) it serves on fds
// 3..3+N-1 instead, at once, answering 503 until --start-delay. With --grpc
// the same listeners also answer grpc.health.v1.Health/Check over h2c.
//
// Output: "testworker: started pid N" first; "testworker: child pid N" per
// grandchild; "testworker: listening on HOST:PORT" or "testworker: using
// inherited socket HOST:PORT"; the --ready-line once healthy;
// "testworker: got SIGTERM, exiting" on a graceful stop by TERM, INT, HUP
// or QUIT (exit 0 after asking the grandchildren to stop and waiting up to
// 2s for them); "testworker: got SIGUSR1" (or USR2), which it survives;
// "testworker: unhealthy" and "testworker: healthy" at the health changes.
// "child pid N" is printed once grandchild N has its signal handling in
// place. --pidfile and --date-file are written before anything listens.
//
// --print-lines N prints "line 1" .. "line N" (each padded with 'x' to
// --line-size bytes, newline excluded) to stdout, or stderr with --stderr,
// then exits with --exit-code: at once when --exit-after is 0 (its default,
// which otherwise means "never"), or when --exit-after has passed since start
// and the printing is done. Exits at --exit-after do not stop the
// grandchildren: like a crash, they are left to hsu.
package main

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/hsu-run/hsu/config"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// options are the parsed flags.
type options struct {
	exitAfter      time.Duration
	exitCode       int
	exitSignal     string
	ignoreSigterm  bool
	alloc          rateValue
	allocStart     sizeValue
	allocMax       sizeValue
	cpu            coresValue
	children       int
	setsidChildren bool
	listen         string
	listenEarly    bool
	grpc           bool
	startDelay     time.Duration
	unhealthyAfter time.Duration
	recoverAfter   time.Duration
	printLines     int
	lineSize       int
	stderr         bool
	readyLine      string
	notify         bool
	pidfile        string
	dateFile       string
	logRequests    bool
	sleep          bool
	child          bool
	childReadyFD   int
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := pflag.NewFlagSet("hsu-testworker", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.DurationVar(&o.exitAfter, "exit-after", 0, "exit this long after start (0: never, or right after --print-lines)")
	fs.IntVar(&o.exitCode, "exit-code", 0, "exit code at --exit-after")
	fs.StringVar(&o.exitSignal, "exit-signal", "", "at --exit-after, kill itself with this signal (KILL, SEGV, ABRT, TERM, ...) instead of exiting")
	fs.BoolVar(&o.ignoreSigterm, "ignore-sigterm", false, "ignore TERM, INT, HUP and QUIT: only KILL ends it (grandchildren too)")
	fs.Var(&o.alloc, "alloc", "grow memory (allocated and touched) at this rate, like 10Mi/s, 100Mi/min")
	fs.Var(&o.allocStart, "alloc-start", "memory allocated and touched at start, like 50Mi")
	fs.Var(&o.allocMax, "alloc-max", "stop growing memory at this size (0: no cap)")
	fs.Var(&o.cpu, "cpu", "burn about this many cores (1.5, 500m, 150%)")
	fs.IntVar(&o.children, "children", 0, "fork this many grandchildren that sleep until killed")
	fs.BoolVar(&o.setsidChildren, "setsid-children", false, "grandchildren call setsid (new session and process group)")
	fs.StringVar(&o.listen, "listen", "", "serve HTTP health on ADDR (127.0.0.1:0 picks a port) once --start-delay has passed")
	fs.BoolVar(&o.listenEarly, "listen-early", false, "open --listen at once and answer 503 until --start-delay")
	fs.BoolVar(&o.grpc, "grpc", false, "also serve grpc.health.v1.Health/Check (h2c) on the listener")
	fs.DurationVar(&o.startDelay, "start-delay", 0, "time until it listens and is healthy")
	fs.DurationVar(&o.unhealthyAfter, "unhealthy-after", 0, "health fails from this long after start (0: never)")
	fs.DurationVar(&o.recoverAfter, "recover-after", 0, "health passes again this long after failing (0: never)")
	fs.IntVar(&o.printLines, "print-lines", 0, `print "line 1" .. "line N", then exit (see --exit-after)`)
	fs.IntVar(&o.lineSize, "line-size", 0, "pad each printed line with 'x' to this many bytes (newline excluded)")
	fs.BoolVar(&o.stderr, "stderr", false, "print the --print-lines lines to stderr")
	fs.StringVar(&o.readyLine, "ready-line", "testworker: ready", `print this line once healthy ("" for none)`)
	fs.BoolVar(&o.notify, "notify", false, "sd_notify: STATUS=starting at once, READY=1 once healthy, then WATCHDOG=1 every 200ms while healthy (to $NOTIFY_SOCKET)")
	fs.StringVar(&o.pidfile, "pidfile", "", "write the pid to this file at start (temp file + rename)")
	fs.StringVar(&o.dateFile, "date-file", "", "append the start time (RFC3339Nano) as a line to this file")
	fs.BoolVar(&o.logRequests, "log-requests", false, "print a line per HTTP or gRPC request")
	fs.BoolVar(&o.sleep, "sleep", false, "just run until signalled (the default when nothing makes it exit)")
	fs.BoolVar(&o.child, "child", false, "grandchild mode: sleep until killed")
	fs.IntVar(&o.childReadyFD, "child-ready-fd", 0, "grandchild mode: close this fd once the signal dispositions are set")
	_ = fs.MarkHidden("child")
	_ = fs.MarkHidden("child-ready-fd")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: hsu-testworker [flags]\n\nA process that acts out the hsu-sim behaviours for real.\n"+
			"With LISTEN_FDS=N (and LISTEN_PID unset or its pid) it serves on fds 3.. instead of --listen.\n"+
			"Durations are Go syntax (300ms, 1m30s); sizes like 64Mi; rates like 10Mi/s.\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.exitAfter < 0 || o.startDelay < 0 || o.unhealthyAfter < 0 || o.recoverAfter < 0:
		return nil, fmt.Errorf("durations must not be negative")
	case o.exitCode < 0 || o.exitCode > 255:
		return nil, fmt.Errorf("--exit-code %d out of range 0..255", o.exitCode)
	case o.children < 0 || o.printLines < 0 || o.lineSize < 0:
		return nil, fmt.Errorf("--children, --print-lines and --line-size must not be negative")
	}
	if o.exitSignal != "" {
		name, err := config.ParseSignal(o.exitSignal)
		if err != nil {
			return nil, fmt.Errorf("--exit-signal: %w", err)
		}
		if _, ok := signalByName(string(name)); !ok {
			return nil, fmt.Errorf("--exit-signal %s is not available on %s", name, runtime.GOOS)
		}
		o.exitSignal = string(name)
	}
	return o, nil
}

// out serialises the worker's own lines so none is torn by another.
var out struct {
	sync.Mutex
}

func say(format string, args ...any) {
	line := fmt.Sprintf(format, args...) + "\n"
	out.Lock()
	defer out.Unlock()
	_, _ = os.Stdout.WriteString(line)
}

func run(args []string) int {
	start := time.Now()
	o, err := parseFlags(args)
	if err == pflag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "hsu-testworker: %v\n", err)
		return 2
	}
	if o.child {
		runChild(o.ignoreSigterm, o.childReadyFD)
		return 0
	}

	sigs := make(chan os.Signal, 8)
	if o.ignoreSigterm {
		ignoreTermSignals()
	} else {
		notifyTermSignals(sigs)
	}
	notifyUserSignals(sigs)

	say("testworker: started pid %d", os.Getpid())
	if o.dateFile != "" {
		if err := appendLine(o.dateFile, start.Format(time.RFC3339Nano)); err != nil {
			return fail("date file: %v", err)
		}
	}
	if o.pidfile != "" {
		if err := writePidfile(o.pidfile); err != nil {
			return fail("pidfile: %v", err)
		}
	}

	h := &health{start: start, o: o}

	// Inherited sockets are served at once (the kernel accepts on them
	// anyway); --listen waits for --start-delay unless --listen-early.
	inherited, err := inheritedListeners()
	if err != nil {
		return fail("inherited sockets: %v", err)
	}
	for _, l := range inherited {
		say("testworker: using inherited socket %s", l.Addr())
		h.serve(l)
	}
	listenNow := o.listen != "" && len(inherited) == 0 && o.listenEarly
	if listenNow {
		if code := h.listen(o.listen); code != 0 {
			return code
		}
	}

	kids := startChildren(o)
	startAlloc(o)
	startCPU(float64(o.cpu))

	// Timers of the life cycle, all measured from start.
	at := func(d time.Duration) <-chan time.Time {
		return time.After(time.Until(start.Add(d)))
	}
	var startedC, unhealthyC, recoverC, exitC <-chan time.Time
	startedC = at(o.startDelay)
	if o.unhealthyAfter > 0 {
		unhealthyC = at(o.unhealthyAfter)
		if o.recoverAfter > 0 {
			recoverC = at(o.unhealthyAfter + o.recoverAfter)
		}
	}
	if o.exitAfter > 0 {
		exitC = at(o.exitAfter)
	}
	var printedC chan struct{}
	if o.printLines > 0 {
		printedC = make(chan struct{})
		go func() {
			printLines(o)
			close(printedC)
		}()
	}
	printing := o.printLines > 0
	exitDue := o.printLines > 0 && o.exitAfter == 0
	readyShown := false
	if o.notify {
		sdNotify("STATUS=starting")
		go func() {
			for range time.Tick(200 * time.Millisecond) {
				if h.healthy() {
					sdNotify("WATCHDOG=1")
				}
			}
		}()
	}
	showReady := func() {
		if !readyShown && h.healthy() {
			readyShown = true
			if o.readyLine != "" {
				say("%s", o.readyLine)
			}
			if o.notify {
				sdNotify("READY=1\nSTATUS=serving")
			}
		}
	}

	for {
		select {
		case sig := <-sigs:
			name := signalName(sig)
			if !isTermSignal(sig) {
				say("testworker: got %s", name)
				continue
			}
			say("testworker: got %s, exiting", name)
			h.close()
			kids.stop(2 * time.Second)
			return 0
		case <-startedC:
			startedC = nil
			if o.listen != "" && len(inherited) == 0 && !listenNow {
				if code := h.listen(o.listen); code != 0 {
					return code
				}
			}
			showReady()
		case <-unhealthyC:
			unhealthyC = nil
			if !h.healthy() {
				say("testworker: unhealthy")
			}
		case <-recoverC:
			recoverC = nil
			if h.healthy() {
				say("testworker: healthy")
				showReady()
			}
		case <-exitC:
			exitC = nil
			exitDue = true
		case <-printedC:
			printedC = nil
			printing = false
		}
		if exitDue && !printing {
			if o.exitSignal != "" {
				sig, _ := signalByName(o.exitSignal)
				killSelf(sig)
			}
			return o.exitCode
		}
	}
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "testworker: "+format+"\n", args...)
	return 1
}

// runChild is a grandchild: it sleeps until killed, or until a
// terminating signal unless it ignores them. It tells its parent when its
// signal dispositions are in place by writing to and closing readyFD.
func runChild(ignoreTerm bool, readyFD int) {
	sigs := make(chan os.Signal, 1)
	if ignoreTerm {
		ignoreTermSignals()
	} else {
		notifyTermSignals(sigs)
	}
	if readyFD > 2 {
		if f := os.NewFile(uintptr(readyFD), "ready"); f != nil {
			_, _ = f.Write([]byte{'\n'})
			_ = f.Close()
		}
	}
	if ignoreTerm {
		for {
			time.Sleep(time.Hour)
		}
	}
	<-sigs
}

// children are the grandchildren of hsu.
type children struct {
	cmds []*exec.Cmd
	done []chan struct{}
}

func startChildren(o *options) *children {
	k := &children{}
	if o.children == 0 {
		return k
	}
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	args := []string{"--child"}
	if readyPipe {
		args = append(args, "--child-ready-fd", "3")
	}
	if o.ignoreSigterm {
		args = append(args, "--ignore-sigterm")
	}
	for i := 0; i < o.children; i++ {
		cmd := exec.Command(self, args...)
		// Like a daemon's helpers, they keep the worker's output open.
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = childAttr(o.setsidChildren)
		if err := startChild(cmd); err != nil {
			fmt.Fprintf(os.Stderr, "testworker: start child: %v\n", err)
			continue
		}
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		k.cmds = append(k.cmds, cmd)
		k.done = append(k.done, done)
		say("testworker: child pid %d", cmd.Process.Pid)
	}
	return k
}

// startChild starts a grandchild and, where it can pass the pipe, waits
// (at most 5s) until it reports its signal dispositions in place: "child
// pid N" promises a grandchild that handles or ignores signals as told.
func startChild(cmd *exec.Cmd) error {
	if !readyPipe {
		return cmd.Start()
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd.ExtraFiles = []*os.File{w}
	err = cmd.Start()
	_ = w.Close()
	if err != nil {
		return err
	}
	_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.Read(make([]byte, 1)); err != nil {
		fmt.Fprintf(os.Stderr, "testworker: child %d not ready: %v\n", cmd.Process.Pid, err)
	}
	return nil
}

// stop asks every grandchild to stop and waits for them, at most timeout.
func (k *children) stop(timeout time.Duration) {
	for i, cmd := range k.cmds {
		select {
		case <-k.done[i]:
		default:
			_ = cmd.Process.Signal(termSignal)
		}
	}
	deadline := time.After(timeout)
	for _, d := range k.done {
		select {
		case <-d:
		case <-deadline:
			return
		}
	}
}

// printLines writes "line 1" .. "line N", whole lines per write.
func printLines(o *options) {
	w := os.Stdout
	if o.stderr {
		w = os.Stderr
	}
	const batch = 64 << 10
	buf := make([]byte, 0, batch+o.lineSize+32)
	xs := bytes.Repeat([]byte{'x'}, o.lineSize)
	flush := func() {
		out.Lock()
		_, _ = w.Write(buf)
		out.Unlock()
		buf = buf[:0]
	}
	for i := 1; i <= o.printLines; i++ {
		n := len(buf)
		buf = append(buf, "line "...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		if pad := o.lineSize - (len(buf) - n); pad > 0 {
			buf = append(buf, ' ')
			buf = append(buf, xs[:pad-1]...)
		}
		buf = append(buf, '\n')
		if len(buf) >= batch {
			flush()
		}
	}
	if len(buf) > 0 {
		flush()
	}
}

// startAlloc allocates --alloc-start, then grows by --alloc up to
// --alloc-max, writing every 4 KiB page so the resident set really grows.
func startAlloc(o *options) {
	startSize, rate, limit := int64(o.allocStart), float64(o.alloc), int64(o.allocMax)
	if startSize == 0 && rate == 0 {
		return
	}
	target := func(elapsed time.Duration) int64 {
		t := startSize + int64(rate*elapsed.Seconds())
		if limit > 0 && t > limit {
			t = limit
		}
		return t
	}
	go func() {
		begin := time.Now()
		var held [][]byte
		var total int64
		capped := false
		for {
			want := target(time.Since(begin))
			for total < want {
				n := min(want-total, 64<<20)
				b := make([]byte, n)
				for i := 0; i < len(b); i += 4096 {
					b[i] = 1
				}
				held = append(held, b)
				total += n
			}
			if limit > 0 && total >= limit && !capped {
				capped = true
				say("testworker: allocated %d bytes (cap reached)", total)
			}
			if rate == 0 || capped {
				// Nothing more to grow: keep the memory.
				runtime.KeepAlive(held)
				select {}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

// startCPU burns about cores cores: one goroutine per started core, each
// busy for its share of every 10ms period.
func startCPU(cores float64) {
	if cores <= 0 {
		return
	}
	n := int(math.Ceil(cores))
	if runtime.GOMAXPROCS(0) < n+1 {
		runtime.GOMAXPROCS(n + 1)
	}
	duty := cores / float64(n)
	const period = 10 * time.Millisecond
	busy := time.Duration(duty * float64(period))
	for range n {
		go func() {
			for {
				t0 := time.Now()
				for time.Since(t0) < busy {
				}
				if rest := period - busy; rest > 0 {
					time.Sleep(rest)
				}
			}
		}()
	}
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writePidfile writes the pid atomically: a reader sees no file or the
// whole pid. It is left behind at exit, as after a crash.
func writePidfile(path string) error {
	tmp := fmt.Sprintf("%s.tmp.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// health is the health model and its HTTP/gRPC server.
type health struct {
	start time.Time
	o     *options
	mu    sync.Mutex
	srv   *http.Server
}

// healthy is the simulator's model: not before --start-delay, not from
// --unhealthy-after until --recover-after later (never again if 0).
func (h *health) healthy() bool { return h.healthyAt(time.Since(h.start)) }

func (h *health) healthyAt(up time.Duration) bool {
	if up < h.o.startDelay {
		return false
	}
	if u := h.o.unhealthyAfter; u > 0 && up >= u {
		return h.o.recoverAfter > 0 && up >= u+h.o.recoverAfter
	}
	return true
}

func (h *health) listen(addr string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fail("listen: %v", err)
	}
	say("testworker: listening on %s", l.Addr())
	h.serve(l)
	return 0
}

func (h *health) serve(l net.Listener) {
	h.mu.Lock()
	if h.srv == nil {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		h.srv = &http.Server{Handler: h.handler(), Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
	}
	srv := h.srv
	h.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (h *health) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		_ = h.srv.Close()
	}
}

// parse helpers for the flag values.

// sizeValue is a size like 512Mi (config.ParseSize).
type sizeValue int64

func (s *sizeValue) String() string { return strconv.FormatInt(int64(*s), 10) }
func (s *sizeValue) Type() string   { return "SIZE" }
func (s *sizeValue) Set(v string) error {
	n, err := config.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeValue(n)
	return nil
}

// rateValue is bytes per second, written SIZE/UNIT with UNIT s, min or h
// (as scenario.Rate).
type rateValue float64

func (r *rateValue) String() string {
	if *r == 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(*r), 'g', -1, 64) + "/s"
}
func (r *rateValue) Type() string { return "RATE" }
func (r *rateValue) Set(v string) error {
	n, err := config.ParseRate(v)
	*r = rateValue(n)
	return err
}

// coresValue is a CPU amount: cores (1.5), millicores (500m) or percent
// (150%), as config.Cores.
type coresValue float64

func (c *coresValue) String() string { return strconv.FormatFloat(float64(*c), 'g', -1, 64) }
func (c *coresValue) Type() string   { return "CORES" }
func (c *coresValue) Set(v string) error {
	s, div := strings.TrimSpace(v), 1.0
	switch {
	case strings.HasSuffix(s, "m"):
		s, div = strings.TrimSuffix(s, "m"), 1000
	case strings.HasSuffix(s, "%"):
		s, div = strings.TrimSuffix(s, "%"), 100
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return fmt.Errorf("invalid CPU amount %q (want cores like 1.5, millicores like 500m, or a percentage like 150%%)", v)
	}
	*c = coresValue(f / div)
	return nil
}

// sdNotify sends one datagram to $NOTIFY_SOCKET ("@name": abstract).
func sdNotify(msg string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		say("testworker: no NOTIFY_SOCKET")
		return
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		say("testworker: notify: %v", err)
		return
	}
	defer c.Close()
	c.Write([]byte(msg + "\n"))
}
