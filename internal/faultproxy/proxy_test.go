package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// echo serves a line echo on 127.0.0.1 until the test ends.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip writes a line on c and reads it back within d.
func roundTrip(c net.Conn, r *bufio.Reader, d time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

func TestModes(t *testing.T) {
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got, err := roundTrip(c, r, time.Second); got != "ping\n" || err != nil {
		t.Fatalf("pass: got %q, %v; want ping", got, err)
	}

	// Blackhole: silence on the open connection and on a new one…
	p.Set(Blackhole)
	if got, err := roundTrip(c, r, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("blackhole: got %q, %v; want a timeout", got, err)
	}
	fresh, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("blackhole: dial = %v, want the connection accepted", err)
	}
	defer fresh.Close()
	freshR := bufio.NewReader(fresh)
	if got, err := roundTrip(fresh, freshR, 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("blackhole, new connection: got %q, %v; want a timeout", got, err)
	}
	// …and what was held arrives once the partition heals.
	p.Set(Pass)
	c.SetReadDeadline(time.Now().Add(time.Second))
	for _, conn := range []struct {
		r    *bufio.Reader
		want string
	}{{r, "ping\n"}, {freshR, "ping\n"}} {
		if got, err := conn.r.ReadString('\n'); got != conn.want || err != nil {
			t.Errorf("after the blackhole: held line = %q, %v; want %q", got, err, conn.want)
		}
	}

	// Cut: the open connection is reset, new ones refused.
	p.Set(Cut)
	if _, err := roundTrip(c, r, time.Second); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Errorf("cut: open connection error = %v, want a reset", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("cut: dial error = %v, want connection refused", err)
	}

	p.Set(Pass)
	again, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("restored: dial = %v", err)
	}
	defer again.Close()
	if got, err := roundTrip(again, bufio.NewReader(again), time.Second); got != "ping\n" || err != nil {
		t.Errorf("restored: got %q, %v; want ping", got, err)
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
