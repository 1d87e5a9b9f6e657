package gateway

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Lingering close. When Fiber refuses a request before reading its body (a body over the
// limit), fasthttp answers and closes the connection while the client is still sending. A
// close with unread data makes the kernel send a reset, which can destroy the answer in the
// client's buffers before it reads it: the client sees "connection reset" instead of the 413.
// Like net/http, the gateway then shuts its side for writing and reads and drops what still
// comes, for a short while, before it closes.
const (
	lingerTimeout = 2 * time.Second
	lingerBytes   = 16 << 20
	// maxLingering bounds the connections lingering at once; beyond it they close at once.
	maxLingering = 64
)

var lingering atomic.Int32

// lingerListener wraps the gateway's listener: its connections linger on close when marked,
// and it knows those that have sent nothing yet (see endUnused).
type lingerListener struct {
	net.Listener
	mu sync.Mutex
	// unused are the connections not a byte has been read from yet.
	unused map[*lingerConn]struct{}
	// ending is set by endUnused: a connection accepted after it ends at once.
	ending bool
}

func newLingerListener(ln net.Listener) *lingerListener {
	return &lingerListener{Listener: ln, unused: make(map[*lingerConn]struct{})}
}

func (l *lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &lingerConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ending {
		lc.end()
	} else {
		l.unused[lc] = struct{}{}
	}
	return lc, nil
}

// endUnused ends the connections that have sent nothing, now and from now on: their reads
// return io.EOF, which fasthttp takes as the client's close, quietly. For the shutdown:
// fasthttp counts a connection whose first request it waits for as busy, not idle, so the
// shutdown would wait up to ReadTimeout for a client that opened one and never used it (a
// browser's preconnect, a client pool's spare), and fail past ShutdownTimeout. A request
// racing the shutdown on such a connection is refused, as it would be a moment later by the
// closed listener.
func (l *lingerListener) endUnused() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ending = true
	for c := range l.unused {
		c.end()
		delete(l.unused, c)
	}
}

// used forgets c as unused.
func (l *lingerListener) used(c *lingerConn) {
	l.mu.Lock()
	delete(l.unused, c)
	l.mu.Unlock()
}

// lingerConn is a connection that lingers on Close once marked.
type lingerConn struct {
	net.Conn
	l      *lingerListener
	linger atomic.Bool
	// read is set once a byte has been read from it; ended by end, before that.
	read, ended atomic.Bool
}

// end makes c's reads return io.EOF, unless one has read a byte: the deadline wakes a read
// waiting now, and Read checks ended before it waits.
func (c *lingerConn) end() {
	c.ended.Store(true)
	_ = c.Conn.SetReadDeadline(time.Now())
}

func (c *lingerConn) Read(b []byte) (int, error) {
	if c.read.Load() {
		return c.Conn.Read(b)
	}
	if c.ended.Load() {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.read.Store(true)
		c.l.used(c)
		return n, err
	}
	if c.ended.Load() {
		return 0, io.EOF
	}
	return n, err
}

// markLinger asks c to linger when closed; a no-op for connections not from Serve's listener.
func markLinger(c net.Conn) {
	if lc, ok := c.(*lingerConn); ok {
		lc.linger.Store(true)
	}
}

func (c *lingerConn) Close() error {
	if !c.read.Load() {
		c.l.used(c) // gone: nothing to close on shutdown
	}
	if !c.linger.Load() {
		return c.Conn.Close()
	}
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok || lingering.Add(1) > maxLingering {
		if ok {
			lingering.Add(-1)
		}
		return c.Conn.Close()
	}
	_ = cw.CloseWrite() // the answer is flushed; the client sees its end
	go func() {
		defer lingering.Add(-1)
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
		_ = c.Conn.Close()
	}()
	return nil
}
