package gateway

import (
	"io"
	"net"
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

type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c}, nil
}

// lingerConn is a connection that lingers on Close once marked.
type lingerConn struct {
	net.Conn
	linger atomic.Bool
}

// markLinger asks c to linger when closed; a no-op for connections not from Serve's listener.
func markLinger(c net.Conn) {
	if lc, ok := c.(*lingerConn); ok {
		lc.linger.Store(true)
	}
}

func (c *lingerConn) Close() error {
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
