package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// conn is a minimal HTTP/1.1 keep-alive client on one TCP connection: it
// writes pre-built request bytes and reads just enough of the answer (status,
// Content-Length or chunks) to find the next one. It costs the load
// generator far less CPU than net/http's client, which matters when the
// generator shares the machine's cores with the server.
type conn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

func dial(addr string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{addr: addr, c: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

func (k *conn) close() { k.c.Close() }

// do sends one request and returns the status; the body is returned only
// when keep is set.
func (k *conn) do(req []byte, keep bool, timeout time.Duration) (int, []byte, error) {
	if err := k.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, nil, err
	}
	if _, err := k.c.Write(req); err != nil {
		return 0, nil, err
	}
	line, err := k.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		h, err := k.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(h) <= 2 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, err = strconv.Atoi(string(value))
			if err != nil {
				return 0, nil, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	var body []byte
	switch {
	case status == 204 || status == 304 || (status >= 100 && status < 200):
	case chunked:
		body, err = k.readChunked(keep)
	case length >= 0:
		if keep {
			body = make([]byte, length)
			_, err = io.ReadFull(k.r, body)
		} else {
			_, err = k.r.Discard(length)
		}
	default:
		closing = true
		body, err = io.ReadAll(k.r)
	}
	if err != nil {
		return 0, nil, err
	}
	if closing {
		k.c.Close()
		nk, err := dial(k.addr)
		if err != nil {
			return status, body, err
		}
		*k = *nk
	}
	return status, body, nil
}

func (k *conn) readChunked(keep bool) ([]byte, error) {
	var body []byte
	for {
		line, err := k.r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(line, []byte(";"), 2)[0])), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			for { // trailers, then the blank line
				l, err := k.r.ReadSlice('\n')
				if err != nil {
					return nil, err
				}
				if len(l) <= 2 {
					return body, nil
				}
			}
		}
		if keep {
			chunk := make([]byte, size)
			if _, err := io.ReadFull(k.r, chunk); err != nil {
				return nil, err
			}
			body = append(body, chunk...)
		} else if _, err := k.r.Discard(int(size)); err != nil {
			return nil, err
		}
		if _, err := k.r.Discard(2); err != nil {
			return nil, err
		}
	}
}

// httpRequest builds the bytes of one HTTP/1.1 request.
func httpRequest(method, path, token, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: gatehouse-load\r\nAccept: application/json\r\n", method, path)
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", token)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.Bytes()
}

// scenario is one kind of request: its variants are sent in rotation (one
// per user, say) and each must answer want.
type scenario struct {
	name     string
	method   string
	path     string
	requests [][]byte
	want     int
	// embedded: sent to Gatehouse embedded in an app (-embedded), not the binary.
	embedded bool
}

// result is one measured run.
type result struct {
	requests, errors int
	elapsed          time.Duration
	p50, p90, p99    time.Duration
	max              time.Duration
	firstErr         error
	latencies        []time.Duration // sorted
	serverCPU        time.Duration   // CPU the server process used during the run
}

// cpuPerRequest is the server's CPU time per answered request.
func (r result) cpuPerRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.serverCPU / time.Duration(r.requests)
}

// add merges another run of the same scenario into r (runs alternated
// with the baseline's are summed: the machine's drift hits both alike).
func (r result) add(o result) result {
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	r.requests += o.requests
	r.errors += o.errors
	r.elapsed += o.elapsed
	r.serverCPU += o.serverCPU
	r.latencies = append(slices.Clone(r.latencies), o.latencies...)
	slices.Sort(r.latencies)
	r.percentiles()
	return r
}

func (r *result) percentiles() {
	all := r.latencies
	if len(all) == 0 {
		return
	}
	pct := func(p int) time.Duration { return all[min(len(all)-1, len(all)*p/100)] }
	r.p50, r.p90, r.p99, r.max = pct(50), pct(90), pct(99), all[len(all)-1]
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// run sends the scenario's requests on conns connections, each waiting for
// its answer before the next (a closed loop), for d; maxRequests bounds the
// total too (0: no bound). Latencies are per request, dial excluded.
func run(addr string, sc scenario, conns int, d time.Duration, maxRequests int) (result, error) {
	clients := make([]*conn, conns)
	for i := range clients {
		c, err := dial(addr)
		if err != nil {
			for _, c := range clients[:i] {
				c.close()
			}
			return result{}, err
		}
		clients[i] = c
	}
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		all     []time.Duration
		res     result
		counted int
	)
	start := time.Now()
	deadline := start.Add(d)
	for w, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<14)
			errs := 0
			var firstErr error
			for j := w * 7919; ; j++ {
				if time.Now().After(deadline) {
					break
				}
				if maxRequests > 0 {
					mu.Lock()
					stop := counted >= maxRequests
					counted++
					mu.Unlock()
					if stop {
						break
					}
				}
				req := sc.requests[j%len(sc.requests)]
				t0 := time.Now()
				status, _, err := c.do(req, false, 30*time.Second)
				lat = append(lat, time.Since(t0))
				if err == nil && status != sc.want {
					err = fmt.Errorf("%s: status %d, want %d", sc.name, status, sc.want)
				}
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					if nc, derr := dial(addr); derr == nil {
						c.close()
						*c = *nc
					} else {
						break
					}
				}
			}
			mu.Lock()
			all = append(all, lat...)
			res.errors += errs
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = len(all) - res.errors
	if len(all) == 0 {
		return res, errors.New("no request completed")
	}
	slices.Sort(all)
	res.latencies = all
	res.percentiles()
	return res, nil
}
