//go:build linux

package unix

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProcCgroup(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     procCgroup
		err      string
	}{
		{name: "cgroup2 only", in: "0::/system.slice/hsu.service\n",
			want: procCgroup{v2: "/system.slice/hsu.service", v1: map[string]string{}}},
		{name: "hybrid", in: "9:name=systemd:/\n4:memory:/process_api/2c78\n2:cpu,cpuacct:/\n0::/\n",
			want: procCgroup{v2: "/", v1: map[string]string{"name=systemd": "/", "memory": "/process_api/2c78", "cpu": "/", "cpuacct": "/"}}},
		{name: "colon in path", in: "0::/a:b\n", want: procCgroup{v2: "/a:b", v1: map[string]string{}}},
		{name: "v1 only", in: "3:pids:/x\n", want: procCgroup{v1: map[string]string{"pids": "/x"}}},
		{name: "no path", in: "0::\n", err: "line 1"},
		{name: "garbage", in: "0::/\nnonsense\n", err: "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcCgroup(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecidePlacement(t *testing.T) {
	const hybridRoot = "8:pids:/\n4:memory:/process_api/2c78\n1:cpu:/\n0::/\n"
	const unit = "8:pids:/system.slice/hsu.service\n7:blkio:/system.slice/hsu.service\n4:memory:/system.slice/hsu.service\n1:cpu:/\n0::/system.slice/hsu.service\n"
	for _, tc := range []struct {
		name string
		in   placementInput
		want placement
	}{
		// This machine: root, in the initial namespace, in a memory cgroup
		// another manager owns. Not delegated.
		{name: "root in someone's cgroup", in: placementInput{procCgroup: hybridRoot, nsInode: initCgroupNS}},
		{name: "no ns inode known", in: placementInput{procCgroup: "0::/\n"}},
		{name: "unit without Delegate", in: placementInput{procCgroup: unit, nsInode: initCgroupNS}},
		{name: "xattr on the root is no delegation", in: placementInput{procCgroup: "0::/\n", xattr: true, nsInode: initCgroupNS}},
		{name: "systemd Delegate=yes", in: placementInput{procCgroup: unit, xattr: true, nsInode: initCgroupNS},
			want: placement{why: "delegate xattr", v2: "/system.slice/hsu.service",
				v1: map[string]string{"memory": "/system.slice/hsu.service", "pids": "/system.slice/hsu.service", "io": "/system.slice/hsu.service"}}},
		{name: "xattr, v1 elsewhere left alone", in: placementInput{procCgroup: "4:memory:/process_api/2c78\n0::/t\n", xattr: true},
			want: placement{why: "delegate xattr", v2: "/t", v1: map[string]string{}}},
		{name: "container cgroup namespace", in: placementInput{procCgroup: "0::/\n", nsInode: 4026532100},
			want: placement{why: "cgroup namespace root", v2: "/", v1: map[string]string{}}},
		{name: "container hybrid namespace", in: placementInput{procCgroup: "4:memory:/\n3:pids:/x\n0::/\n", nsInode: 4026532100},
			want: placement{why: "cgroup namespace root", v2: "/", v1: map[string]string{"memory": "/"}}},
		{name: "namespace, not at its root", in: placementInput{procCgroup: "0::/sub\n", nsInode: 4026532100}},
		{name: "flag wins", in: placementInput{procCgroup: unit, xattr: true, parent: "/hsu.slice", nsInode: 4026532100},
			want: placement{why: "--cgroup-parent", v2: "/hsu.slice",
				v1: map[string]string{"memory": "/hsu.slice", "pids": "/hsu.slice", "cpu": "/hsu.slice", "io": "/hsu.slice"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decidePlacement(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.why == "" {
				if got.why != "" {
					t.Fatalf("delegated (%+v), want not", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCheckCgroupParent(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"", ""},
		{"/system.slice/hsu.service", ""},
		{"/sys/fs/cgroup/unified/x", "not a file system path"},
		{"system.slice", "starting with /"},
		{"/a/../b", "clean"},
		{"/a/", "clean"},
		{"/", "clean"},
	} {
		err := checkCgroupParent(tc.in)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("checkCgroupParent(%q) = %v, want %q", tc.in, err, tc.err)
		}
	}
}
