package config

// The configuration schema. The struct tags are the single definition of
// every key: the strict decoder, the built-in defaults, the JSON Schema
// (`hsu schema`) and the reference in docs/config.md are all derived from
// them, so they cannot drift apart.
//
//	yaml:    the key
//	doc:     one-line description (schema "description", docs)
//	default: the built-in default, written as YAML
//	enum:    the allowed values, separated by |
//	min/max: inclusive numeric bounds

// Config is one hsu configuration after includes, defaults, templates and
// ${VAR} expansion have been applied.
type Config struct {
	Version   int                `yaml:"version" doc:"Format version of this file; must be 1." min:"1" max:"1"`
	Include   []string           `yaml:"include" doc:"Other files (glob patterns, relative to this file) whose workers and templates are added to this config."`
	Defaults  *Worker            `yaml:"defaults" doc:"Settings applied to every worker; a worker's own value wins, lists replace."`
	Templates map[string]*Worker `yaml:"templates" doc:"Named partial worker definitions that a worker reuses with extends."`
	Workers   map[string]*Worker `yaml:"workers" doc:"The processes hsu supervises, by name."`

	// File is the absolute path of the main file.
	File string `yaml:"-"`
	// Order lists worker names in the order they were defined (main file
	// first, then includes), for output that follows the file.
	Order []string `yaml:"-"`
	// pos maps key paths to their position, for validation errors.
	pos Positions
}

// Worker types.
const (
	TypeManaged    = "managed"
	TypeUnmanaged  = "unmanaged"
	TypeIntegrated = "integrated"
)

// Worker describes one supervised program and its replicas.
type Worker struct {
	Type         string     `yaml:"type" doc:"managed: hsu starts it; unmanaged: started elsewhere, hsu adopts it by pidfile or discovery; integrated: managed, with a listening socket handed over by hsu and gRPC health by default." enum:"managed|unmanaged|integrated" default:"managed"`
	Extends      StringList `yaml:"extends" doc:"Template name(s) to inherit from, applied in order; the worker's own values win."`
	Command      []string   `yaml:"command" doc:"Program and arguments, run without a shell." example:"[\"/opt/api/bin/api\", \"--port\", \"8080\"]"`
	Shell        string     `yaml:"shell" doc:"A command line run with /bin/sh -c (cmd.exe /C on Windows); instead of command."`
	Workdir      string     `yaml:"workdir" doc:"Working directory; relative paths are relative to the config file. Default: the config file's directory."`
	Env          EnvMap     `yaml:"env" doc:"Environment variables added to hsu's own environment."`
	EnvFile      StringList `yaml:"env_file" doc:"dotenv file(s) loaded into the environment before env; relative to the config file."`
	User         string     `yaml:"user" doc:"Run as this user (name or uid); needs root. Unix only."`
	Group        string     `yaml:"group" doc:"Run with this primary group (name or gid); needs root. Unix only."`
	Replicas     int        `yaml:"replicas" doc:"Number of instances; replica i is named NAME-i (from 1). 0 defines the worker without running it." default:"1" min:"0" max:"10000"`
	DependsOn    DependsOn  `yaml:"depends_on" doc:"Workers that must reach a condition before this one starts; it stops before them."`
	Restart      Restart    `yaml:"restart" doc:"When and how fast to restart after an exit."`
	Health       Health     `yaml:"health" doc:"Startup, readiness and liveness probes."`
	ReadyLogLine string     `yaml:"ready_log_line" doc:"A substring of an output line that marks the worker ready (condition log_ready)."`
	Notify       bool       `yaml:"notify" doc:"The worker speaks systemd's notify protocol: each instance gets its own NOTIFY_SOCKET (abstract), READY=1 makes it ready, STATUS= shows in hsu status, MAINPID= is ignored. Linux only." default:"false"`
	Watchdog     Duration   `yaml:"watchdog" doc:"With notify: WATCHDOG=1 must come at least this often once the instance is ready to be watched (after its first ping or READY=1); a missed one is a liveness failure. 0: no watchdog." default:"0s"`
	Rollout      string     `yaml:"rollout" doc:"How a reload that changes the worker replaces its replicas: all at once, or rolling: one at a time, the next once the one before is ready again (or running past start_seconds without a readiness probe); the rollout stops at the first failure." enum:"all|rolling" default:"all"`
	Listen       string     `yaml:"listen" doc:"integrated workers: address hsu binds and hands over as LISTEN_FDS=1 and HSU_PORT." default:"\"127.0.0.1:0\""`
	Resources    Resources  `yaml:"resources" doc:"Resource limits and what to do when they are crossed."`
	Stop         Stop       `yaml:"stop" doc:"How to stop an instance."`
	Logs         Logs       `yaml:"logs" doc:"Where the worker's stdout and stderr go."`
	Pidfile      string     `yaml:"pidfile" doc:"unmanaged workers: file holding the PID to adopt."`
	Discover     *Discover  `yaml:"discover" doc:"unmanaged workers: find the process by command line or listening port."`

	// Name is the worker's key under workers.
	Name string `yaml:"-"`
}

// Rollouts.
const (
	RolloutAll     = "all"
	RolloutRolling = "rolling"
)

// Dependency conditions.
const (
	CondStarted               = "started"
	CondHealthy               = "healthy"
	CondCompleted             = "completed"
	CondCompletedSuccessfully = "completed_successfully"
	CondLogReady              = "log_ready"
)

// Dependency is the condition a dependency must reach.
type Dependency struct {
	Condition string `yaml:"condition" doc:"started: it has been spawned; healthy: its readiness probe passes (without one: it ran past start_seconds); completed: it exited; completed_successfully: it exited with a success code; log_ready: it printed ready_log_line." enum:"started|healthy|completed|completed_successfully|log_ready" default:"started"`
}

// Restart policies.
const (
	PolicyNever         = "never"
	PolicyOnFailure     = "on-failure"
	PolicyAlways        = "always"
	PolicyUnlessStopped = "unless-stopped"
)

// Restart is the restart policy of a worker.
type Restart struct {
	Policy           string   `yaml:"policy" doc:"never; on-failure: after an exit code not in success_exit_codes or a signal; always: after any exit; unless-stopped: like always, and it also survives hsu restarts unless stopped by a command." enum:"never|on-failure|always|unless-stopped" default:"on-failure"`
	Backoff          Backoff  `yaml:"backoff" doc:"Delay before each restart."`
	ResetAfter       Duration `yaml:"reset_after" doc:"An instance that stays up this long resets the back-off to initial." default:"10m"`
	MaxRestarts      int      `yaml:"max_restarts" doc:"Restart budget: at most this many restarts within window; the exit that would need one more makes the worker failed. 0 means unlimited." default:"10" min:"0"`
	Window           Duration `yaml:"window" doc:"The sliding window of the restart budget." default:"10m"`
	StartSeconds     Duration `yaml:"start_seconds" doc:"An instance that exits sooner than this after its spawn is a failed start." default:"1s"`
	SuccessExitCodes []int    `yaml:"success_exit_codes" doc:"Exit codes that count as success." default:"[0]"`
	On               Triggers `yaml:"on" doc:"Per-trigger overrides of backoff and budget."`
}

// Backoff is an exponential back-off with jitter.
type Backoff struct {
	Initial    Duration `yaml:"initial" doc:"Delay before the first restart. Unset: 1s, or max when that is lower." default:"1s"`
	Max        Duration `yaml:"max" doc:"Cap on the delay. Unset: 5m, or initial when that is higher." default:"5m"`
	Multiplier float64  `yaml:"multiplier" doc:"Factor applied to the delay after each restart." default:"2" min:"1" max:"100"`
	Jitter     float64  `yaml:"jitter" doc:"Random spread of each delay, as a fraction (0.1 = ±10%)." default:"0.1" min:"0" max:"1"`
}

// Restart triggers.
const (
	TriggerCrash    = "crash"
	TriggerHealth   = "health"
	TriggerResource = "resource"
)

// Triggers holds per-trigger overrides; a nil entry uses the worker's
// restart settings.
type Triggers struct {
	Crash    *TriggerRestart `yaml:"crash" doc:"Restarts after the process exited by itself."`
	Health   *TriggerRestart `yaml:"health" doc:"Restarts after a liveness probe failed."`
	Resource *TriggerRestart `yaml:"resource" doc:"Restarts after a resource limit was hit: an OOM kill, hsu's kill under immediate_kill, or policy restart."`
}

// TriggerRestart overrides parts of Restart for one trigger; unset fields
// inherit from the worker's restart settings.
type TriggerRestart struct {
	Backoff     *BackoffOverride `yaml:"backoff" doc:"Back-off fields for this trigger; unset fields inherit."`
	MaxRestarts *int             `yaml:"max_restarts" doc:"Separate restart budget for this trigger (0: unlimited)." min:"0"`
	Window      *Duration        `yaml:"window" doc:"Window of this trigger's budget."`
}

// BackoffOverride is a Backoff whose unset fields inherit.
type BackoffOverride struct {
	Initial    *Duration `yaml:"initial" doc:"Delay before the first restart. Unset: inherited, or this max when that is lower and restart.backoff.initial is unset too."`
	Max        *Duration `yaml:"max" doc:"Cap on the delay. Unset: inherited, or this initial when that is higher and restart.backoff.max is unset too."`
	Multiplier *float64  `yaml:"multiplier" doc:"Factor applied after each restart." min:"1" max:"100"`
	Jitter     *float64  `yaml:"jitter" doc:"Random spread as a fraction." min:"0" max:"1"`
}

// Health holds the three probes, Kubernetes style: startup gates the
// others; readiness only marks ready; liveness failure restarts.
type Health struct {
	Startup   *Probe `yaml:"startup" doc:"Runs first; readiness and liveness start once it passes; failing it counts as a liveness failure."`
	Readiness *Probe `yaml:"readiness" doc:"Passing marks the instance ready; failing only clears ready."`
	Liveness  *Probe `yaml:"liveness" doc:"Failing failure_threshold times in a row restarts the instance (trigger health)."`
}

// Probe is one health check: exactly one of its kinds, and its timing.
type Probe struct {
	HTTP    *HTTPProbe    `yaml:"http" doc:"GET a URL; a 2xx or 3xx status passes."`
	TCP     *TCPProbe     `yaml:"tcp" doc:"Open a TCP connection."`
	GRPC    *GRPCProbe    `yaml:"grpc" doc:"grpc.health.v1 Check; SERVING passes."`
	Exec    *ExecProbe    `yaml:"exec" doc:"Run a command; exit code 0 passes."`
	Process *ProcessProbe `yaml:"process" doc:"Passes while the process is alive."`

	InitialDelay     Duration `yaml:"initial_delay" doc:"Wait after the start before the first probe." default:"0s"`
	Period           Duration `yaml:"period" doc:"Time between probes. Unset: 10s, or timeout when that is longer." default:"10s"`
	Timeout          Duration `yaml:"timeout" doc:"A probe taking longer fails; at most period. Unset: 1s, or period when that is shorter." default:"1s"`
	SuccessThreshold int      `yaml:"success_threshold" doc:"Consecutive passes needed to count as passing." default:"1" min:"1"`
	FailureThreshold int      `yaml:"failure_threshold" doc:"Consecutive failures needed to count as failing." default:"3" min:"1"`
}

// Kind returns the probe kind set, or "" when none is.
func (p *Probe) Kind() string {
	switch {
	case p.HTTP != nil:
		return "http"
	case p.TCP != nil:
		return "tcp"
	case p.GRPC != nil:
		return "grpc"
	case p.Exec != nil:
		return "exec"
	case p.Process != nil:
		return "process"
	}
	return ""
}

// HTTPProbe passes on a 2xx or 3xx response.
type HTTPProbe struct {
	URL     string            `yaml:"url" doc:"http:// or https:// URL." required:"true"`
	Method  string            `yaml:"method" doc:"HTTP method." enum:"GET|HEAD|POST" default:"GET"`
	Headers map[string]string `yaml:"headers" doc:"Extra request headers."`
}

// TCPProbe passes when a connection opens.
type TCPProbe struct {
	Address string `yaml:"address" doc:"host:port to connect to." required:"true"`
}

// GRPCProbe calls grpc.health.v1.Health/Check.
type GRPCProbe struct {
	Address string `yaml:"address" doc:"host:port of the gRPC server; integrated workers default to their handed-over socket."`
	Service string `yaml:"service" doc:"Service name to check; empty checks the server as a whole."`
}

// ExecProbe runs a command.
type ExecProbe struct {
	Command []string `yaml:"command" doc:"Program and arguments; exit 0 passes. Killed with its group on timeout." required:"true"`
}

// ProcessProbe passes while the process is alive.
type ProcessProbe struct{}

// Resource policies.
const (
	ResLog              = "log"
	ResAlert            = "alert"
	ResThrottle         = "throttle"
	ResRestart          = "restart"
	ResGracefulShutdown = "graceful_shutdown"
	ResImmediateKill    = "immediate_kill"
)

// Resources are the limits of one instance (each replica separately).
type Resources struct {
	Memory          *MemoryLimit `yaml:"memory" doc:"Memory limit (resident set, or the cgroup's usage)."`
	CPU             *CPULimit    `yaml:"cpu" doc:"CPU limit in cores."`
	Pids            *PidsLimit   `yaml:"pids" doc:"Limit on processes and threads of the instance's tree."`
	IO              *IOLimit     `yaml:"io" doc:"Block I/O limits (bytes and operations per second) on one disk: the kernel's io.max (cgroup2) or blkio.throttle (cgroup v1); Linux only (docs/limits.md)."`
	FDs             *FDLimit     `yaml:"fds" doc:"Open file descriptor limit (RLIMIT_NOFILE)."`
	MonitorInterval Duration     `yaml:"monitor_interval" doc:"How often usage is sampled." default:"5s"`
}

// MemoryLimit: what happens at max depends on policy. immediate_kill
// (the default) is a hard limit the kernel enforces where the OS has one
// (cgroup memory.max, a Windows job's memory limit): the instance is
// OOM-killed, reported as OOMKilled; where it has none, hsu kills the
// instance when a sample reaches max, reported as hsu's kill. Either way it
// is restarted under the resource trigger as its restart policy says.
// restart, graceful_shutdown, log and alert are applied by hsu when a
// sample reaches max, so the instance can shut down cleanly; usage may
// overshoot by up to one monitor_interval of growth. throttle is the
// kernel's soft limit, memory.high on cgroup2: past max the kernel
// reclaims and slows the instance and never kills it. Where there is no
// cgroup2 memory controller, validation rejects it rather than ignore it.
type MemoryLimit struct {
	Max    Size   `yaml:"max" doc:"The limit; see policy for who enforces it."`
	Warn   Size   `yaml:"warn" doc:"Soft threshold: crossing it is noted in hsu's log; must be below max."`
	Policy string `yaml:"policy" doc:"At max: immediate_kill: a kernel OOM kill where the OS enforces the limit (OOMKilled), else hsu kills it when a sample reaches max; then the restart policy applies; restart: hsu restarts it gracefully; graceful_shutdown: hsu stops it gracefully; throttle: the kernel's memory.high (cgroup2 only): reclaimed and slowed past max, never killed, reported as throttled; log: a line in hsu's log; alert: a line and an alert event on the feed." enum:"log|alert|throttle|restart|graceful_shutdown|immediate_kill" default:"immediate_kill"`
}

// CPULimit is in cores.
type CPULimit struct {
	Max    Cores  `yaml:"max" doc:"Cores (1.5), millicores (500m) or percent of a core (150%)."`
	Warn   Cores  `yaml:"warn" doc:"Soft threshold; must be below max."`
	Policy string `yaml:"policy" doc:"At max: throttle: the OS's CPU quota caps usage (never kills); restart/graceful_shutdown/immediate_kill/log/alert: applied by hsu when a sample's average reaches max." enum:"log|alert|throttle|restart|graceful_shutdown|immediate_kill" default:"throttle"`
}

// PidsLimit limits the number of tasks.
type PidsLimit struct {
	Max    int    `yaml:"max" doc:"Maximum processes and threads." min:"1"`
	Warn   int    `yaml:"warn" doc:"Soft threshold; must be below max." min:"0"`
	Policy string `yaml:"policy" doc:"What to do when a sample reaches max (where the OS caps processes, a Linux pids cgroup or a Windows job, it refuses more forks regardless)." enum:"log|alert|throttle|restart|graceful_shutdown|immediate_kill" default:"log"`
}

// IOLimit is the kernel's throttle of one block device. The kernel
// throttles whole disks, so a partition stands for its disk.
type IOLimit struct {
	ReadBPS   Size   `yaml:"read_bps" doc:"Read bytes per second."`
	WriteBPS  Size   `yaml:"write_bps" doc:"Write bytes per second."`
	ReadIOPS  int    `yaml:"read_iops" doc:"Read operations per second." min:"0"`
	WriteIOPS int    `yaml:"write_iops" doc:"Write operations per second." min:"0"`
	Device    string `yaml:"device" doc:"The disk throttled: a path on it or its device node (/dev/sda, /var/lib/db), or MAJ:MIN (8:0). Default: the disk holding the worker's workdir; a partition is its whole disk."`
}

// FDLimit is RLIMIT_NOFILE.
type FDLimit struct {
	Max int `yaml:"max" doc:"Maximum open file descriptors." min:"1"`
}

// Stop describes a graceful stop.
type Stop struct {
	Signal  Signal   `yaml:"signal" doc:"Signal sent to the instance's process group (Windows: CTRL_BREAK)." default:"TERM"`
	Timeout Duration `yaml:"timeout" doc:"Time allowed after the signal (or command) before the whole group and cgroup are killed." default:"10s"`
	Command []string `yaml:"command" doc:"Run this instead of sending signal; the timeout still applies."`
}

// Logs says where output goes.
type Logs struct {
	File    string `yaml:"file" doc:"Append output to this file (relative to the config file); replicas share it: json lines carry the replica, text lines are tagged [i] from the first line when the worker has more than one replica."`
	Format  string `yaml:"format" doc:"text: one line as printed; json: one JSON object per line with time, worker, replica, stream, line." enum:"text|json" default:"text"`
	Console bool   `yaml:"console" doc:"Also print to hsu's own output, prefixed with the worker name." default:"true"`
	Rotate  Rotate `yaml:"rotate" doc:"Rotation of file."`
	Buffer  int    `yaml:"buffer" doc:"Lines kept in memory per worker for hsu logs." default:"1000" min:"0"`
}

// Rotate controls log rotation.
type Rotate struct {
	MaxSize  Size     `yaml:"max_size" doc:"Rotate when the file reaches this size." default:"50Mi"`
	MaxFiles int      `yaml:"max_files" doc:"Rotated files kept (0: all)." default:"10" min:"0"`
	MaxAge   Duration `yaml:"max_age" doc:"Delete rotated files older than this (0: keep)." default:"0s"`
	Compress bool     `yaml:"compress" doc:"gzip rotated files." default:"false"`
}

// Discover finds an unmanaged process.
type Discover struct {
	Cmdline string `yaml:"cmdline" doc:"A substring of the process's command line."`
	Port    int    `yaml:"port" doc:"A TCP port the process listens on." min:"1" max:"65535"`
}
