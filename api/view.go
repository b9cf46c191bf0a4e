package api

import (
	"time"

	"github.com/hsu-run/hsu/driver"
	"github.com/hsu-run/hsu/engine"
	"github.com/hsu-run/hsu/logs"
)

// The JSON the API serves. Times are RFC 3339; durations are seconds.
// The workers' environment is never part of it.

// StatusView is GET /v1/workers.
type StatusView struct {
	Version      uint64       `json:"version"`
	Time         time.Time    `json:"time"`
	ShuttingDown bool         `json:"shutting_down"`
	Degraded     []string     `json:"degraded,omitempty"`
	Workers      []WorkerView `json:"workers"`
	// HsuVersion, HsuStarted and HsuPID are the hsu process serving
	// (hsu reexec keeps the PID and changes the start time).
	HsuVersion string     `json:"hsu_version,omitempty"`
	HsuStarted *time.Time `json:"hsu_started,omitempty"`
	HsuPID     int        `json:"hsu_pid,omitempty"`
}

// WorkerView is one worker (GET /v1/workers/{name}).
type WorkerView struct {
	Name     string        `json:"name"`
	Type     string        `json:"type"`
	Replicas int           `json:"replicas"`
	Slots    []ReplicaView `json:"instances"`
}

// ReplicaView is one replica.
type ReplicaView struct {
	Replica       int            `json:"replica"`
	State         string         `json:"state"`
	Reason        string         `json:"reason"`
	Since         time.Time      `json:"since"`
	Ready         bool           `json:"ready"`
	PID           int            `json:"pid,omitempty"`
	StartedAt     *time.Time     `json:"started_at,omitempty"`
	Uptime        float64        `json:"uptime_seconds,omitempty"`
	Restarts      int            `json:"restarts"`
	LastTrigger   string         `json:"last_restart_trigger,omitempty"`
	LastExit      *ExitView      `json:"last_exit,omitempty"`
	NextRestartAt *time.Time     `json:"next_restart_at,omitempty"`
	Probes        []ProbeView    `json:"probes,omitempty"`
	Usage         *UsageView     `json:"usage,omitempty"`
	Status        string         `json:"status,omitempty"`
	OOMKills      int            `json:"oom_kills,omitempty"`
	RestartsBy    map[string]int `json:"restarts_by_trigger,omitempty"`
	// Throttled: the kernel throttled the instance at memory.high at its
	// last sample.
	Throttled bool        `json:"throttled,omitempty"`
	Limits    []LimitView `json:"limits,omitempty"`
}

// LimitView is one resource's usage against its limit, at the last
// sample: bytes for memory, cores for cpu, tasks for pids.
type LimitView struct {
	Resource string  `json:"resource"`
	Value    float64 `json:"value"`
	Warn     float64 `json:"warn,omitempty"`
	Max      float64 `json:"max,omitempty"`
	Policy   string  `json:"policy"`
	// Enforced is "kernel" where the kernel enforces max, else "sampled"
	// (hsu acts on its samples).
	Enforced string `json:"enforced"`
	Warned   bool   `json:"warned,omitempty"`
	Over     bool   `json:"over,omitempty"`
}

// ExitView is how the last instance ended.
type ExitView struct {
	Code   int       `json:"code"`
	Signal string    `json:"signal,omitempty"`
	OOM    bool      `json:"oom"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// ProbeView is a probe's last result.
type ProbeView struct {
	Probe    string    `json:"probe"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
	Duration float64   `json:"duration_seconds"`
}

// UsageView is the last sample.
type UsageView struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	CPU        float64 `json:"cpu_cores"`
	// Memory is the working set the memory limit is compared with; anon
	// and file split it where a memory cgroup counts it.
	Memory     int64     `json:"memory_bytes"`
	MemoryAnon int64     `json:"memory_anon_bytes,omitempty"`
	MemoryFile int64     `json:"memory_file_bytes,omitempty"`
	Pids       int       `json:"pids"`
	FDs        int       `json:"open_fds"`
	IORead     int64     `json:"io_read_bytes"`
	IOWrite    int64     `json:"io_write_bytes"`
	Source     string    `json:"source,omitempty"`
	At         time.Time `json:"at"`
}

// LineView is one log line (GET /v1/workers/{name}/logs). A gap record
// has Dropped set: that many lines were lost there.
type LineView struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Worker  string    `json:"worker"`
	Replica int       `json:"replica"`
	Stream  string    `json:"stream"`
	Line    string    `json:"line"`
	Dropped int       `json:"dropped,omitempty"`
}

// EventView is one feed event (GET /v1/events).
type EventView struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	driver.FeedEvent
}

func lineView(l logs.Line) LineView {
	return LineView{Seq: l.Seq, Time: l.Time.UTC(), Worker: l.Worker, Replica: l.Replica, Stream: l.Stream, Line: l.Text, Dropped: l.Dropped}
}

func statusView(st *engine.Status, wall func(time.Duration) time.Time, names map[string]bool) StatusView {
	v := StatusView{Version: st.Version, Time: wall(st.At).UTC(), ShuttingDown: st.ShuttingDown, Workers: []WorkerView{}}
	for i := range st.Workers {
		if names != nil && !names[st.Workers[i].Name] {
			continue
		}
		v.Workers = append(v.Workers, workerView(&st.Workers[i], st.At, wall))
	}
	return v
}

func workerView(w *engine.WorkerStatus, now time.Duration, wall func(time.Duration) time.Time) WorkerView {
	wv := WorkerView{Name: w.Name, Type: w.Type, Replicas: w.Replicas, Slots: make([]ReplicaView, 0, len(w.Slots))}
	at := func(d time.Duration) time.Time { return wall(d).UTC() }
	for _, s := range w.Slots {
		rv := ReplicaView{Replica: s.Replica, State: s.State.String(), Reason: s.Reason, Since: at(s.Since),
			Ready: s.Ready, PID: s.PID, Restarts: s.Restarts, LastTrigger: s.LastTrigger, Status: s.StatusText,
			OOMKills: s.OOMKills, RestartsBy: s.RestartsBy}
		if s.Alive {
			t := at(s.StartedAt)
			rv.StartedAt = &t
			rv.Uptime = (now - s.StartedAt).Seconds()
		}
		if s.Exit != nil {
			rv.LastExit = &ExitView{Code: s.Exit.Code, Signal: s.Exit.Signal, OOM: s.Exit.OOM, Reason: s.LastExit, At: at(s.Exit.At)}
		}
		if s.NextRestart > 0 {
			t := at(s.NextRestart)
			rv.NextRestartAt = &t
		}
		for _, p := range s.Probes {
			rv.Probes = append(rv.Probes, ProbeView{Probe: p.Kind.String(), OK: p.OK, Error: p.Err, At: at(p.At), Duration: p.Duration.Seconds()})
		}
		if s.UsageAt > 0 {
			u := &s.Usage
			rv.Usage = &UsageView{CPUSeconds: u.CPUSeconds, CPU: u.CPU, Memory: u.Memory, MemoryAnon: u.MemoryAnon, MemoryFile: u.MemoryFile,
				Pids: u.Pids, FDs: u.FDs, IORead: u.IORead, IOWrite: u.IOWrite, Source: u.Source, At: at(s.UsageAt)}
			rv.Throttled = s.Throttled
			for _, l := range s.Limits {
				lv := LimitView{Resource: l.Resource, Value: limitValue(l.Resource, l.Value), Warn: limitValue(l.Resource, l.Warn),
					Max: limitValue(l.Resource, l.Max), Policy: l.Policy, Enforced: "sampled", Warned: l.Warned, Over: l.Over}
				if l.Kernel {
					lv.Enforced = "kernel"
				}
				rv.Limits = append(rv.Limits, lv)
			}
		}
		wv.Slots = append(wv.Slots, rv)
	}
	return wv
}

// limitValue turns an engine limit value into the API's unit: cores for
// cpu (the engine counts millicores).
func limitValue(resource string, v int64) float64 {
	if resource == "cpu" {
		return float64(v) / 1000
	}
	return float64(v)
}
