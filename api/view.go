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
	CPUSeconds float64   `json:"cpu_seconds"`
	CPU        float64   `json:"cpu_cores"`
	Memory     int64     `json:"memory_bytes"`
	Pids       int       `json:"pids"`
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
			rv.Usage = &UsageView{CPUSeconds: s.Usage.CPUSeconds, CPU: s.Usage.CPU, Memory: s.Usage.Memory, Pids: s.Usage.Pids, At: at(s.UsageAt)}
		}
		wv.Slots = append(wv.Slots, rv)
	}
	return wv
}
