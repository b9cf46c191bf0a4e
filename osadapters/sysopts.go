package osadapters

// SystemOptions are what NewSystemWith takes.
type SystemOptions struct {
	StateDir string
	// CgroupParent is a cgroup delegated to hsu (hsu run --cgroup-parent):
	// a cgroup path relative to the cgroup2 mount, as /proc/self/cgroup
	// shows it (/system.slice/hsu.service). Linux only: elsewhere it is
	// an error.
	CgroupParent string
}
