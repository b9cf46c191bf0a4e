package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/hsu-run/hsu/api"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/logs"
	"github.com/hsu-run/hsu/metrics"
	"github.com/hsu-run/hsu/osadapters"
)

// control is what hsu run offers the API and SIGHUP: reloads, health.
type control struct {
	d      *osadapters.Driver
	hub    *logs.Hub
	file   string
	log    *slog.Logger
	errOut io.Writer

	sd *systemd

	rx  *reexec     // hsu reexec's binary and arguments
	hsu api.HsuInfo // this process, in the status

	// reloading is a one-slot semaphore: one reload at a time (each
	// re-reads the file), and a caller that gives up stops waiting.
	reloading chan struct{}
}

// reload re-reads the config file; an invalid one is rejected with every
// error and its position, and the running config is kept. SIGHUP, hsu
// reload and POST /v1/reload all come here.
func (c *control) reload(ctx context.Context, dry bool) (engine.Diff, error) {
	select {
	case c.reloading <- struct{}{}:
		defer func() { <-c.reloading }()
	case <-ctx.Done():
		return engine.Diff{}, fmt.Errorf("reload: %w (another reload is still waiting for its durable answer)", ctx.Err())
	}
	cfg, err := loadConfig(c.file)
	if err != nil {
		var b bytes.Buffer
		printLoadError(&b, "reload", c.file, err)
		msg := strings.TrimRight(b.String(), "\n")
		if !dry {
			c.log.Error("reload rejected: the running config is kept", "config", c.file)
			fmt.Fprintln(c.errOut, msg)
		}
		return engine.Diff{}, &api.ConfigError{Msg: msg}
	}
	if !dry {
		if err := configureLogs(c.hub, cfg); err != nil {
			c.log.Error("reload rejected: the running config is kept", "err", err)
			return engine.Diff{}, &api.ConfigError{Msg: err.Error()}
		}
	}
	if !dry && !c.d.Status().ShuttingDown {
		c.sd.reloading()
		defer c.sd.reloaded()
	}
	diff, err := c.d.ReloadDiff(ctx, cfg, dry)
	if err != nil {
		if !dry {
			c.log.Error("reload failed", "err", err)
		}
		return diff, err
	}
	if !dry {
		c.log.Info("reloaded", "config", c.file, "added", len(diff.Added), "removed", len(diff.Removed),
			"restarted", len(diff.Restarted), "scaled", len(diff.Scaled), "unchanged", len(diff.Unchanged))
	}
	return diff, nil
}

// lagLimit is the loop lag beyond which hsu reports itself degraded.
const lagLimit = time.Second

// health lists why hsu is degraded.
func (c *control) health() []string {
	var why []string
	if c.d.Degraded() {
		why = append(why, "state writes are failing: changes are applied but not durable")
	}
	if n := c.hub.Dropped(); n > 0 {
		why = append(why, fmt.Sprintf("%d log lines were lost (a log file could not be written, or the console did not read)", n))
	}
	if lag := c.d.LoopLag(); lag > lagLimit {
		why = append(why, fmt.Sprintf("the supervision loop lags by %s", lag.Round(time.Millisecond)))
	}
	return why
}

func (c *control) metrics() metrics.Input {
	v, rev, gov := BuildInfo()
	return metrics.Input{
		Status: c.d.Status(), Wall: c.d.Wall, Probes: c.d.ProbeHistograms(),
		WriteFailures: c.d.WriteFailures(), LoopLag: c.d.LoopLag(), LogDropped: c.hub.Dropped(),
		Degraded: c.d.Degraded(), Version: v, Revision: rev, GoVersion: gov,
		LimitAlerts: c.d.LimitAlerts(),
	}
}

// apiFlags are hsu run's API flags.
type apiFlags struct {
	tcp, group, tokenFile, cert, key, clientCA, socket string
}

func (a *apiFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&a.tcp, "api", "", "also serve the API on TCP: tcp://127.0.0.1:PORT (needs a token)")
	fs.StringVar(&a.socket, "socket", "", "the API's Unix socket (default: hsu.sock in the state dir)")
	fs.StringVar(&a.group, "api-group", "", "let this group read the API (socket 0660, state dir 0750)")
	fs.StringVar(&a.tokenFile, "api-token-file", "", "bearer tokens for the TCP API, one per line (bare or name:token); also HSU_API_TOKEN")
	fs.StringVar(&a.cert, "api-tls-cert", "", "TLS certificate for the TCP API")
	fs.StringVar(&a.key, "api-tls-key", "", "TLS key for the TCP API")
	fs.StringVar(&a.clientCA, "api-tls-client-ca", "", "require TCP API clients to present a certificate signed by this CA")
}

// start opens the API's listeners and serves them; stop closes them.
func (a *apiFlags) start(c *control, stateDir string) (stop func(), err error) {
	audit, err := os.OpenFile(filepath.Join(stateDir, "audit.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	srv := api.New(api.Options{
		Backend: c.d, Logs: c.hub, Logger: c.log, Reload: c.reload, Health: c.health,
		Metrics: metrics.Handler(c.metrics), Audit: audit, Reexec: c.requestReexec, Hsu: c.hsu,
	})
	var closers []func()
	fail := func(err error) (func(), error) {
		for _, f := range closers {
			f()
		}
		audit.Close()
		return nil, err
	}
	sock := a.socket
	if sock == "" {
		sock = filepath.Join(stateDir, "hsu.sock")
	}
	own := false
	if as, err1 := filepath.Abs(filepath.Dir(sock)); err1 == nil {
		if sd, err2 := filepath.Abs(stateDir); err2 == nil {
			own = as == sd
		}
	}
	l, info, err := api.ListenUnix(sock, a.group, own)
	if err != nil && !errors.Is(err, api.ErrNoUnixAPI) {
		return fail(err)
	}
	if err == nil {
		closers = append(closers, func() { l.Close() })
		go srv.Serve(l, info)
		c.log.Info("api listening", "socket", sock)
	}
	if a.tcp != "" {
		addr, ok := strings.CutPrefix(a.tcp, "tcp://")
		if !ok {
			return fail(fmt.Errorf("--api %q: want tcp://HOST:PORT", a.tcp))
		}
		tokens, err := api.LoadTokens(a.tokenFile, os.Getenv("HSU_API_TOKEN"))
		if err != nil {
			return fail(err)
		}
		tl, tinfo, err := api.ListenTCP(addr, tokens, api.TLSFiles{Cert: a.cert, Key: a.key, ClientCA: a.clientCA})
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func() { tl.Close() })
		go srv.Serve(tl, tinfo)
		c.log.Info("api listening", "tcp", tl.Addr().String(), "tls", a.cert != "")
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		for _, f := range closers {
			f()
		}
		audit.Close()
	}, nil
}
