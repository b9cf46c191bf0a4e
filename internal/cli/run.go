package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hsu-run/hsu/api"
	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/internal/humanlog"
	"github.com/hsu-run/hsu/internal/trim"
	"github.com/hsu-run/hsu/logs"
	"github.com/hsu-run/hsu/osadapters"
	"github.com/hsu-run/hsu/osadapters/platform"
)

func cmdRun(args []string, out, errOut io.Writer) int {
	started := time.Now()
	rx := newReexec() // before systemd's variables leave the environment
	fs := newFlags("run", errOut)
	file := fs.StringP("file", "f", defaultConfig, "config file")
	stateDir := fs.String("state-dir", osadapters.DefaultStateDir(), "state directory (state file, output FIFOs, lock, hsu.pid)")
	verbose := fs.BoolP("verbose", "v", false, "log hsu's own debug messages")
	logFile := fs.String("log-file", "", "also append hsu's own log to this file")
	cgroupParent := fs.String("cgroup-parent", "", "a cgroup delegated to hsu, relative to the cgroup2 mount (/system.slice/hsu.service): hsu moves into PATH/supervisor and makes instance cgroups in PATH/hsu-<hash> (Linux)")
	logFormat := fs.String("log-format", "", "format of hsu's own log on stderr: human, text or json (default human on a terminal, else text)")
	strictLimits := fs.Bool("strict-limits", false, "refuse to start if a limit the kernel could enforce would be sampled by hsu instead (no privileges, no writable cgroup)")
	var ao apiFlags
	ao.register(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	switch *logFormat {
	case "", "human", "text", "json":
	default:
		fmt.Fprintf(errOut, "hsu run: --log-format %q: want human, text or json\n", *logFormat)
		return exitUsage
	}
	if os.Getenv("GOGC") == "" {
		// hsu's live heap is small and mostly idle: half the default
		// growth halves the heap's 4 MiB floor (1.5 MiB of idle PSS with
		// 100 workers) for a little more GC work under heavy logging.
		debug.SetGCPercent(50)
	}
	if *cgroupParent != "" {
		thisPlatform = probePlatform(*cgroupParent)
	}
	cfg, err := loadConfig(*file)
	if err != nil {
		printLoadError(errOut, "run", *file, err)
		return exitFailure
	}
	if deg := platform.Degraded(thisPlatform().Plan(cfg)); *strictLimits && len(deg) > 0 {
		fmt.Fprintf(errOut, "hsu run: --strict-limits: hsu would sample %d limit%s instead of leaving %s to the kernel:\n  %s\n", len(deg), plural(len(deg)), map[bool]string{true: "it", false: "them"}[len(deg) == 1], strings.Join(deg, "\n  "))
		return exitFailure
	}
	release, err := osadapters.LockStateDir(*stateDir)
	if err != nil {
		fmt.Fprintf(errOut, "hsu run: %v\n", err)
		return exitFailure
	}
	defer release()
	pidPath := filepath.Join(*stateDir, "hsu.pid")
	os.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	defer os.Remove(pidPath)
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	var logTo *os.File
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			fmt.Fprintf(errOut, "hsu run: log file: %v\n", err)
			return exitFailure
		}
		defer f.Close()
		logTo = f
	}
	logger := slog.New(logHandler(*logFormat, errOut, logTo, level))
	console := out
	color := false
	if f, ok := out.(*os.File); ok {
		color = logs.ColorFor(f)
	}
	// Longer lines are split, never dropped; a console that stops reading
	// drops console lines beyond 4 MiB rather than stalling supervision.
	hub := logs.NewHub(console, logs.HubOptions{Color: color, MaxLine: 1 << 20, AsyncConsole: 4 << 20})
	defer hub.Close()
	if err := configureLogs(hub, cfg); err != nil {
		fmt.Fprintf(errOut, "hsu run: %v\n", err)
		return exitFailure
	}
	// Before any worker exists: none may inherit systemd's variables.
	sd, watchdog := newSystemd(logger)
	sys, err := osadapters.NewSystemWith(osadapters.SystemOptions{StateDir: *stateDir, CgroupParent: *cgroupParent})
	if err != nil {
		fmt.Fprintf(errOut, "hsu run: %v\n", err)
		return exitFailure
	}
	if cg, ok := sys.(interface{ CgroupRoot() (string, string) }); ok {
		if root, by := cg.CgroupRoot(); by != "" {
			logger.Info("cgroups delegated to hsu", "instances", root, "by", by)
		} else if root != "" {
			logger.Debug("instance cgroups", "instances", root)
		}
	}
	warnDegraded(logger, cfg, sys)
	d := osadapters.NewDriver(cfg, sys, osadapters.Options{StateDir: *stateDir, Logger: logger, Logs: hub})
	version, _, _ := BuildInfo()
	ctl := &control{d: d, hub: hub, file: *file, log: logger, errOut: errOut, sd: sd, reloading: make(chan struct{}, 1),
		rx: rx, hsu: api.HsuInfo{Version: version, Started: started, PID: os.Getpid()}}
	stopAPI, err := ao.start(ctl, *stateDir)
	if err != nil {
		fmt.Fprintf(errOut, "hsu run: %v\n", err)
		return exitFailure
	}
	defer stopAPI()

	sigs := make(chan os.Signal, 4)
	// SIGPIPE too: a console reader that went away (hsu run | tee) must
	// not kill the supervisor.
	signal.Notify(sigs, append([]os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE}, reexecSignals...)...)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	sdCtx, sdStop := context.WithCancel(context.Background())
	defer sdStop()
	go sd.run(sdCtx, ctl, watchdog)
	defer func() {
		if d.Status().ShuttingDown || d.Done() {
			sd.stop()
		}
	}()
	// Once the start is over, the pages only it needed go back (the
	// idle footprint of a supervisor that runs for months).
	trimTimer := time.AfterFunc(trimAfter, func() {
		if n, err := trim.Executable(); err != nil {
			logger.Debug("trim", "err", err)
		} else {
			logger.Debug("trimmed the start's program pages", "mapped_bytes", n)
		}
	})
	defer trimTimer.Stop()
	logger.Info("hsu running", "config", *file, "workers", len(cfg.Workers), "state_dir", *stateDir, "pid", os.Getpid(), "version", version)
	stopping := false
	for {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(errOut, "hsu run: %v\n", err)
				return exitFailure
			}
			if errors.Is(err, context.Canceled) {
				d.KillAll()
				logger.Info("killed every worker")
				return exitFailure
			}
			logger.Info("hsu stopped")
			return exitOK
		case <-rx.req:
			if stopping {
				logger.Warn("reexec ignored: shutting down")
				continue
			}
			// The driver stops as a crash would (the state file holds what
			// every write returned), the API answers its last requests and
			// lets go of the socket, the output read so far reaches the log
			// files, and the lock goes: nothing the new hsu needs is held.
			logger.Info("re-executing hsu; the workers keep running", "binary", rx.exe)
			cancel()
			<-done
			sdStop()
			stopAPI()
			if f, ok := sys.(interface{ FreezeOutput() }); ok {
				f.FreezeOutput()
			}
			hub.Close()
			release()
			err := execHsu(rx.exe, rx.args, rx.env)
			fmt.Fprintf(errOut, "hsu run: reexec %s: %v (the workers run on; the next hsu run adopts them)\n", rx.exe, err)
			return exitFailure
		case sig := <-sigs:
			switch {
			case sig == syscall.SIGPIPE:
			case isReexecSignal(sig):
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					if err := ctl.requestReexec(ctx); err != nil {
						logger.Error("reexec refused", "err", err)
					}
				}()
			case sig == syscall.SIGHUP && stopping:
				logger.Warn("reload ignored: shutting down")
			case sig == syscall.SIGHUP:
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					ctl.reload(ctx, false)
				}()
			case stopping:
				// A second Ctrl-C: no more waiting for stop timeouts.
				logger.Warn("second signal: killing every worker now")
				cancel()
			default:
				stopping = true
				sd.stop()
				logger.Info("stopping every worker (reverse dependency order); send the signal again to SIGKILL them all in parallel", "signal", sig.String())
				go d.Command(context.Background(), engine.Command{Verb: engine.CmdShutdown})
			}
		}
	}
}

func configureLogs(hub *logs.Hub, cfg *config.Config) error {
	for _, name := range cfg.Order {
		if err := hub.Configure(name, cfg.Workers[name].Logs); err != nil {
			return fmt.Errorf("logs of %s: %w", name, err)
		}
		// Before any output: replica 1's first lines get their tag too.
		hub.SetReplicas(name, cfg.Workers[name].Replicas)
	}
	return nil
}

// printLoadError prints every config error, then a count; errors that are
// not about the file's content (it cannot be read) name the verb.
func printLoadError(errOut io.Writer, verb, file string, err error) {
	var list *config.ErrorList
	if errors.As(err, &list) {
		fmt.Fprintln(errOut, list.Error())
		n := len(list.Errs) + list.Dropped
		fmt.Fprintf(errOut, "%s: %d error%s\n", file, n, plural(n))
		return
	}
	fmt.Fprintf(errOut, "hsu %s: %v\n", verb, err)
}

// logHandler is hsu's own log: on errOut in format (human, text or json;
// "" is human on a terminal, else text), and also in file when it is not
// nil, as text (json under json), so the file keeps dates and no colour
// whatever the console shows.
func logHandler(format string, errOut io.Writer, file *os.File, level slog.Level) slog.Handler {
	stderr, _ := errOut.(*os.File)
	if format == "" {
		format = "text"
		if logs.IsTerminal(stderr) {
			format = "human"
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch format {
	case "human":
		h = humanlog.New(errOut, humanlog.Options{Level: level, Color: logs.ColorFor(stderr)})
	case "json":
		h = slog.NewJSONHandler(errOut, opts)
	default:
		h = slog.NewTextHandler(errOut, opts)
	}
	if file == nil {
		return h
	}
	if format == "json" {
		return slog.NewMultiHandler(h, slog.NewJSONHandler(file, opts))
	}
	return slog.NewMultiHandler(h, slog.NewTextHandler(file, opts))
}

func isReexecSignal(sig os.Signal) bool {
	for _, s := range reexecSignals {
		if sig == s {
			return true
		}
	}
	return false
}

// trimAfter is when the start's program pages go back: the first spawns
// and the config's parsing are done by then.
const trimAfter = 5 * time.Second
