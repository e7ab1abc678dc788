// HTTP/1.1 connection handling for the shutdown sequence (see shutdown.ts), at no cost
// per request while the service runs: one listener per *connection*, nothing per request
// until the drain begins.
//
// Why not just server.close()? It stops accepting, and Node's closeIdleConnections()
// ends keep-alive connections that are between requests; but a connection that was
// opened and never sent a byte (browsers' preconnects, load balancers' pre-opened
// connections) or that sent half of a request's headers is not "idle" to Node, and
// keeps close() waiting until the shutdown deadline (exit 1). And a keep-alive
// connection closed by the server races with a client sending on it (ECONNRESET at the
// client): the drain must close busy connections the polite way, after a response
// that says `Connection: close`.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

// Node's own bookkeeping (also what http-terminator and stoppable rely on): the response
// a socket is currently writing, or null between requests.
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null; [closing]?: true }
const closing = Symbol('closing after this response')

export interface Connections {
  /** Open client connections (keep-alive, in flight, upgraded, silent). */
  readonly size: number
  /**
   * From now on every response ends its connection (`Connection: close`), and a request
   * pipelined behind such a response on the same connection is never run: RFC 9112
   * section 9.6, the client retries it on a new connection, which lands on a pod that
   * is still in the endpoints. Responses in flight now get `Connection: close` too.
   */
  closeAfterResponses(): void
  /**
   * Destroys every connection with no request in flight: idle keep-alive, never-sent,
   * half-sent headers or body, upgraded (WebSocket) sockets. In-flight requests finish;
   * their connections close after the response.
   */
  closeIdle(): number
}

export function trackConnections(server: Server): Connections {
  const sockets = new Set<HttpSocket>()
  server.on('connection', (socket: HttpSocket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })

  function markClosing(socket: HttpSocket): void {
    if (socket[closing]) return
    socket[closing] = true
    const res = socket._httpMessage
    if (!res) return
    if (!res.headersSent) res.shouldKeepAlive = false
    // Already sent with keep-alive in its headers: the client may send its next request
    // on this socket, which the drain would then destroy unanswered. End the connection
    // as soon as this response is complete instead: the client reconnects elsewhere.
    else if (res.shouldKeepAlive) res.once('finish', () => socket.end())
  }

  let draining = false
  return {
    get size() {
      return sockets.size
    },

    closeAfterResponses() {
      if (draining) return
      draining = true
      for (const socket of sockets) if (socket._httpMessage) markClosing(socket)
      // Take the place of fastify's request listener, calling it for requests that may
      // run: swapping the listener costs nothing until the drain begins.
      const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
      server.removeAllListeners('request')
      server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        const socket = req.socket as HttpSocket
        if (socket[closing]) {
          // Pipelined behind a response that closes the connection: not run, not
          // answered. The socket ends after that response; if that one had already sent
          // its headers with keep-alive, end it as soon as this request's turn comes.
          if (res.socket) socket.destroy()
          else res.once('socket', (s: Socket) => s.destroy())
          return
        }
        markClosing(socket)
        res.shouldKeepAlive = false
        for (const handler of handlers) handler.call(server, req, res)
      })
    },

    closeIdle() {
      let closed = 0
      for (const socket of sockets) {
        // A request whose body is still arriving has not reached its handler (the body
        // is parsed first): it cannot have been processed, and a client trickling it in
        // would hold the close until the deadline (exit 1). The client sees the
        // connection closed before any answer, which it may safely retry.
        if (!socket._httpMessage || !socket._httpMessage.req.complete) {
          socket.destroy()
          closed++
        } else markClosing(socket)
      }
      return closed
    },
  }
}
