package actionstest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// WaitListening waits until something accepts connections on addr (a
// server started in another process), failing t after 30 seconds.
func WaitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after 30s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreeAddr returns an address of 127.0.0.1 whose port is free now, for a
// server told to listen there a moment later (infrabot, sshd). The port
// is chosen below the range the kernel hands out by itself
// (ip_local_port_range: to listeners on port 0, and as the source port of
// outgoing connections), so that the listeners and connections other
// tests open meanwhile never take it; a port freed by a listener on port
// 0 could be handed to any of them before the server binds it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	lo, hi := unassignedPorts()
	for i := 0; i < 100 && lo < hi; i++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lo+rand.IntN(hi-lo)))
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr
		}
	}
	// Every port tried is in use: let the kernel choose one.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// unassignedPorts returns ports the kernel does not assign by itself:
// up to 10,000 below its ephemeral range (32768–60999 by default on
// Linux), or above it; none (0, 0) when the range leaves no room.
func unassignedPorts() (lo, hi int) {
	first, last := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &first, &last)
	}
	switch {
	case first-1024 >= 1000:
		return max(1024, first-10000), first
	case 65535-last >= 1000:
		return last + 1, 65536
	}
	return 0, 0
}
