package main

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func startProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	pprof.StartCPUProfile(f)
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGUSR1)
		<-c
		pprof.StopCPUProfile()
		f.Close()
	}()
}
