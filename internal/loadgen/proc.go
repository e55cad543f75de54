package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat. It is 100
// on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const clockTicks = 100

// procSample is one reading of a process's CPU and memory.
type procSample struct {
	CPU time.Duration // utime+stime, all threads (10 ms resolution)
	RSS int64         // VmRSS in bytes
}

// readProc reads /proc/PID/stat and /proc/PID/status.
func readProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, fmt.Errorf("read server stats: %w", err)
	}
	// Fields after the parenthesised command (which may contain spaces):
	// state(3) ... utime(14) stime(15), counted from 1 over the whole line.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("read server stats: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("read server stats: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("read server stats: bad utime/stime in /proc/%d/stat", pid)
	}
	s.CPU = time.Duration(ut+st) * time.Second / clockTicks
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, fmt.Errorf("read server stats: %w", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return s, fmt.Errorf("read server stats: bad VmRSS %q", v)
			}
			s.RSS = kb << 10
		}
	}
	return s, nil
}

// selfCPU returns this process's user+system CPU time (µs resolution).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// monitor samples the server processes (if any), the Redis processes (if
// any) and this process.
type monitor struct {
	pids  []int // server processes (cluster nodes)
	redis []int
}

// sample is a set of readings taken at one instant.
type sample struct {
	at      time.Time
	server  procSample   // summed over the server processes
	servers []procSample // each server process
	redis   []procSample // each Redis process
	self    time.Duration
	err     error
}

func (m monitor) take() sample {
	s := sample{at: time.Now(), self: selfCPU()}
	for _, pid := range m.pids {
		p, err := readProc(pid)
		if err != nil {
			s.err = err
			continue
		}
		s.servers = append(s.servers, p)
		s.server.CPU += p.CPU
		s.server.RSS += p.RSS
	}
	for _, pid := range m.redis {
		p, err := readProc(pid)
		if err != nil {
			s.err = err
			continue
		}
		s.redis = append(s.redis, p)
	}
	return s
}

// findListenerPID returns the process that has a TCP socket listening on
// port, by matching the socket's inode in /proc/net/tcp{,6} against the fd
// links of every process this user may read.
func findListenerPID(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			fs := strings.Fields(line)
			// sl local_address rem_address st ... inode(10)
			if len(fs) < 10 || fs[3] != "0A" { // 0A = LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("find server pid: nothing listens on port %d", port)
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, d := range dirs {
		if l, err := os.Readlink(d); err == nil && inodes[l] {
			return strconv.Atoi(strings.Split(d, "/")[2])
		}
	}
	return 0, fmt.Errorf("find server pid: no readable process owns the listener on port %d", port)
}
