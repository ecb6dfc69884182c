// Package faultproxy is a TCP proxy that tests put between Gatehouse and a
// service (PostgreSQL, MySQL, Redis) to inject network faults on demand:
//
//   - Pass forwards both ways.
//   - Cut refuses new connections (the listener is closed: connection
//     refused) and resets the open ones (RST), as a crashed or firewalled
//     server with REJECT rules does.
//   - Blackhole accepts new connections and holds every byte in both
//     directions without answering, as a network partition that drops
//     packets does. Held bytes are delivered when Pass is restored (TCP
//     would retransmit them), so a connection that outlives the outage
//     resumes intact.
//
// It listens on 127.0.0.1 only.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Mode is what the proxy does with traffic.
type Mode int

// The modes.
const (
	Pass Mode = iota
	Cut
	Blackhole
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Cut:
		return "cut"
	case Blackhole:
		return "blackhole"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Proxy forwards connections from Addr to a target address.
type Proxy struct {
	target string
	addr   string

	mu      sync.Mutex
	mode    Mode
	changed chan struct{} // closed and replaced at every mode change
	ln      net.Listener
	conns   map[*net.TCPConn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// Start listens on a free port of 127.0.0.1 and forwards to target.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), changed: make(chan struct{}), conns: map[*net.TCPConn]struct{}{}}
	p.serve(ln)
	return p, nil
}

// Addr is host:port to connect to instead of the target.
func (p *Proxy) Addr() string { return p.addr }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Set switches to mode m. Leaving Cut listens again on the same address.
func (p *Proxy) Set(m Mode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	if m == p.mode {
		return nil
	}
	prev := p.mode
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
	switch {
	case m == Cut:
		p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			c.SetLinger(0) // close with RST
			c.Close()
		}
	case prev == Cut:
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("faultproxy: listen again on %s: %w", p.addr, err)
		}
		p.serve(ln)
	}
	return nil
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.changed)
	p.changed = make(chan struct{})
	if p.ln != nil {
		p.ln.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// serve accepts on ln (p.mu held or before any concurrency).
func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c.(*net.TCPConn))
			}()
		}
	}()
}

// track registers c; false when the proxy is cut or closed (c is reset).
func (p *Proxy) track(c *net.TCPConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == Cut {
		c.SetLinger(0)
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(cs ...*net.TCPConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

// waitPass blocks while the mode is Blackhole and reports whether traffic
// may flow (false once cut or closed).
func (p *Proxy) waitPass() bool {
	for {
		p.mu.Lock()
		mode, closed, changed := p.mode, p.closed, p.changed
		p.mu.Unlock()
		switch {
		case closed || mode == Cut:
			return false
		case mode == Pass:
			return true
		}
		<-changed
	}
}

func (p *Proxy) handle(client *net.TCPConn) {
	if !p.track(client) {
		return
	}
	// A connection accepted in a blackhole reaches the target only when
	// the partition heals.
	if !p.waitPass() {
		p.untrack(client)
		return
	}
	c, err := net.Dial("tcp", p.target)
	if err != nil {
		client.SetLinger(0)
		p.untrack(client)
		return
	}
	server := c.(*net.TCPConn)
	if !p.track(server) {
		p.untrack(client)
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done
	p.untrack(client, server)
	<-done
}

// pipe copies src to dst, holding what it read while the mode is
// Blackhole.
func (p *Proxy) pipe(dst, src *net.TCPConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitPass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				dst.CloseWrite()
			}
			return
		}
	}
}
