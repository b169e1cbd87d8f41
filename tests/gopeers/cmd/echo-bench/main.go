// Command echo-bench measures raw unix-socket round trips between two
// processes, a floor for plugin call latency.
//
//	echo-bench [run] [--n N] [--size BYTES] [--concurrency C] [--warmup N]
//	echo-bench serve --socket PATH
//	echo-bench client --socket PATH [--n N] [--size BYTES] [--concurrency C] [--warmup N]
//
// Frames are a 4-byte big-endian length then that many bytes; the server
// writes each frame back unchanged. "run" (the default) starts "serve" as a
// child process on a temporary socket, runs the client against it and stops
// the child. Results are one JSON line like plugin-host bench's.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"turnout.dev/tests/gopeers/internal/benchstats"
)

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "echo-bench: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	args := os.Args[1:]
	sub := "run"
	if len(args) > 0 && (args[0] == "run" || args[0] == "serve" || args[0] == "client" || args[0] == "help") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet(sub, flag.ExitOnError)
	socket := fs.String("socket", "", "unix socket path")
	n := fs.Int("n", 20000, "timed round trips")
	size := fs.Int("size", 64, "payload bytes per frame")
	conc := fs.Int("concurrency", 1, "concurrent connections sharing the N round trips")
	warmup := fs.Int("warmup", 200, "untimed round trips per connection")
	if sub == "help" {
		fs.PrintDefaults()
		return
	}
	_ = fs.Parse(args)

	switch sub {
	case "serve":
		if *socket == "" {
			fatalf("--socket is required")
		}
		serve(*socket)
	case "client":
		if *socket == "" {
			fatalf("--socket is required")
		}
		printStats(client(*socket, *n, *size, *conc, *warmup), "client")
	case "run":
		dir, err := os.MkdirTemp("", "echo-bench")
		if err != nil {
			fatalf("%v", err)
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "echo.sock")
		self, err := os.Executable()
		if err != nil {
			fatalf("%v", err)
		}
		cmd := exec.Command(self, "serve", "--socket", path)
		cmd.Stderr = os.Stderr
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			fatalf("starting server: %v", err)
		}
		// Wait for the server's ready line.
		if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
			_ = cmd.Process.Kill()
			fatalf("server did not start: %v", err)
		}
		stats := client(path, *n, *size, *conc, *warmup)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		printStats(stats, "run")
	}
}

func serve(path string) {
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		fatalf("listen: %v", err)
	}
	b, _ := json.Marshal(map[string]string{"socket": path})
	fmt.Println(string(b))
	for {
		conn, err := l.Accept()
		if err != nil {
			fatalf("accept: %v", err)
		}
		go echo(conn)
	}
}

func echo(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	var hdr [4]byte
	buf := make([]byte, 0, 4096)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if cap(buf) < int(n)+4 {
			buf = make([]byte, 0, int(n)+4)
		}
		frame := buf[:n+4]
		copy(frame, hdr[:])
		if _, err := io.ReadFull(r, frame[4:]); err != nil {
			return
		}
		if _, err := conn.Write(frame); err != nil {
			return
		}
	}
}

type result struct {
	stats map[string]interface{}
	size  int
	conc  int
}

func client(path string, n, size, conc, warmup int) result {
	if conc < 1 {
		conc = 1
	}
	conns := make([]net.Conn, conc)
	for i := range conns {
		c, err := net.Dial("unix", path)
		if err != nil {
			fatalf("dial: %v", err)
		}
		conns[i] = c
	}
	frame := make([]byte, 4+size)
	binary.BigEndian.PutUint32(frame, uint32(size))
	for i := 4; i < len(frame); i++ {
		frame[i] = byte(i)
	}
	roundTrip := func(c net.Conn, in []byte) error {
		if _, err := c.Write(frame); err != nil {
			return err
		}
		_, err := io.ReadFull(c, in)
		return err
	}
	for _, c := range conns {
		in := make([]byte, len(frame))
		for i := 0; i < warmup; i++ {
			if err := roundTrip(c, in); err != nil {
				fatalf("warm-up: %v", err)
			}
		}
	}
	lat := make([]time.Duration, n)
	var next int64 = -1
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			in := make([]byte, len(frame))
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(n) {
					return
				}
				s := time.Now()
				if err := roundTrip(c, in); err != nil {
					fatalf("round trip: %v", err)
				}
				lat[i] = time.Since(s)
			}
		}(c)
	}
	wg.Wait()
	wall := time.Since(t0)
	for _, c := range conns {
		c.Close()
	}
	return result{stats: benchstats.Summarize(lat, wall), size: size, conc: conc}
}

func printStats(r result, mode string) {
	r.stats["kind"] = "echo-bench"
	r.stats["mode"] = mode
	r.stats["ok"] = true
	r.stats["size"] = r.size
	r.stats["concurrency"] = r.conc
	b, _ := json.Marshal(r.stats)
	fmt.Println(string(b))
}
