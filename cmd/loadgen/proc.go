package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procSample is a process's CPU time and resident memory from /proc.
type procSample struct {
	CPUSeconds float64
	RSSBytes   int64
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// readProc samples /proc/<pid>; pid 0 means this process.
func readProc(pid int) (procSample, error) {
	p := "self"
	if pid > 0 {
		p = strconv.Itoa(pid)
	}
	stat, err := os.ReadFile("/proc/" + p + "/stat")
	if err != nil {
		return procSample{}, err
	}
	// Fields after the command name (which may hold spaces) start at ")".
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procSample{}, fmt.Errorf("odd /proc/%s/stat", p)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return procSample{}, fmt.Errorf("short /proc/%s/stat", p)
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	rssPages, _ := strconv.ParseInt(f[21], 10, 64)
	return procSample{CPUSeconds: (utime + stime) / clockTicks, RSSBytes: rssPages * int64(os.Getpagesize())}, nil
}
