import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/**
 * How the device client sends a request: one exchange, the answer's status, headers and body text.
 * The default is HTTP/1.1 of its own over keep-alive connections shared by every client in the
 * process (per origin, the most recently used idle one first); a `fetch` (the client's option) is
 * used instead when given. Per report, node:http's client (ClientRequest, IncomingMessage, the
 * Agent's bookkeeping, a URL parse and a timer) cost the bench's fleet about 150 us of CPU on the
 * 2-core bench host, this one about 40 us: one write of the whole request, one parse of the answer
 * (fetch, undici and its WHATWG streams, cost about as much as signing and verifying together).
 * It speaks what the license service and any HTTP/1.1 proxy in front of it answer: Content-Length
 * or chunked bodies, or a body up to the connection's close; 1xx answers skipped; a connection
 * the answer says to close, or answered without a length, is not used again.
 */
export interface DeviceResponse {
  status: number;
  header(name: string): string | undefined;
  text: string;
}
/** `path` is the request target under the client's base URL, e.g. `/v1/devices/pi-1/usage-reports`. */
export type DeviceTransport = (method: string, path: string, headers: Record<string, string>, body?: string) => Promise<DeviceResponse>;

/** A request with no byte of its answer for this long fails as a network error, and is retried. */
const REQUEST_TIMEOUT_MS = 60_000;
/** An idle connection unused this long is closed rather than reused: the server may be closing it (Fastify: 72 s, many proxies: 5 s). */
const IDLE_REUSE_MS = 4_000;
/** An answer's header section may not be larger (Node's own limit). */
const MAX_HEAD_BYTES = 16 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
/** A header value a request may carry: no CR, LF or NUL (header injection). */
const UNSAFE_HEADER_VALUE = /[\r\n\0]/;

interface Exchange {
  method: string;
  resolve(response: DeviceResponse): void;
  reject(err: Error): void;
}

/** One keep-alive connection; `exchange` is the request it is answering now, if any. */
class Connection {
  exchange?: Exchange;
  idleSince = 0;
  private buffered?: Buffer;
  /** The answer being read: its status and headers, known once its head is in. */
  private head?: { status: number; headers: Map<string, string>; reusable: boolean; bodyStart: number };
  private chunkedBody?: Buffer[];

  constructor(
    readonly socket: Socket,
    private readonly pool: OriginPool,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(REQUEST_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('timeout', () => socket.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)));
    socket.on('error', (err) => this.fail(err));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => {
      this.pool.forget(this);
      this.fail(new Error('the connection closed before the answer was complete'));
    });
  }

  send(exchange: Exchange, request: string): void {
    this.exchange = exchange;
    this.socket.ref();
    this.socket.write(request);
  }

  private fail(err: Error): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    this.buffered = this.head = this.chunkedBody = undefined;
    if (!this.socket.destroyed) this.socket.destroy();
    exchange?.reject(err);
  }

  private onEnd(): void {
    // An answer without a length ends with the connection.
    if (this.exchange && this.head && !this.head.headers.has('content-length') && !this.chunkedBody) {
      const buffered = this.buffered ?? Buffer.alloc(0);
      this.complete(buffered.subarray(this.head.bodyStart), false);
    }
    this.fail(new Error('the server closed the connection before the answer was complete'));
  }

  private onData(chunk: Buffer): void {
    if (!this.exchange) {
      // Nothing asked: a server talking out of turn. Not a connection to use again.
      this.socket.destroy();
      return;
    }
    this.buffered = this.buffered ? Buffer.concat([this.buffered, chunk]) : chunk;
    try {
      this.parse();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Reads what is buffered: the head, then the body as the head frames it. */
  private parse(): void {
    const buffered = this.buffered!;
    if (!this.head) {
      const end = buffered.indexOf(HEAD_END);
      if (end < 0) {
        if (buffered.length > MAX_HEAD_BYTES) throw new Error("the answer's headers are too large");
        return;
      }
      const lines = buffered.toString('latin1', 0, end).split('\r\n');
      const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]);
      if (!statusLine) throw new Error(`not an HTTP/1.x answer: ${JSON.stringify(lines[0].slice(0, 40))}`);
      const status = Number(statusLine[2]);
      const headers = new Map<string, string>();
      for (let i = 1; i < lines.length; i++) {
        const colon = lines[i].indexOf(':');
        if (colon <= 0) throw new Error('a malformed header line in the answer');
        const name = lines[i].slice(0, colon).trim().toLowerCase();
        const value = lines[i].slice(colon + 1).trim();
        const earlier = headers.get(name);
        headers.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
      }
      if (status >= 100 && status < 200) {
        // 100 Continue and the like: the real answer follows.
        this.buffered = buffered.subarray(end + 4);
        if (this.buffered.length > 0) this.parse();
        return;
      }
      const connection = (headers.get('connection') ?? '').toLowerCase();
      const reusable = statusLine[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
      this.head = { status, headers, reusable, bodyStart: end + 4 };
      const transferEncoding = headers.get('transfer-encoding');
      if (transferEncoding !== undefined) {
        if (!/(?:^|,)\s*chunked\s*$/i.test(transferEncoding)) throw new Error(`an answer in transfer-encoding ${transferEncoding}`);
        this.chunkedBody = [];
      } else if (headers.has('content-length') && !/^\d{1,15}$/.test(headers.get('content-length')!)) {
        throw new Error("the answer's content-length is not a length");
      }
    }
    const head = this.head;
    const noBody = this.exchange!.method === 'HEAD' || head.status === 204 || head.status === 304;
    if (noBody) return this.complete(Buffer.alloc(0), head.reusable && buffered.length === head.bodyStart);
    if (this.chunkedBody) return this.parseChunks(buffered, head);
    const length = head.headers.get('content-length');
    if (length === undefined) return; // up to the connection's end
    const bodyEnd = head.bodyStart + Number(length);
    if (buffered.length < bodyEnd) return;
    this.complete(buffered.subarray(head.bodyStart, bodyEnd), head.reusable && buffered.length === bodyEnd);
  }

  /** A chunked body: `<hex size>[;ext]\r\n<data>\r\n` ... `0\r\n[trailers]\r\n`. */
  private parseChunks(buffered: Buffer, head: NonNullable<Connection['head']>): void {
    let at = head.bodyStart;
    for (;;) {
      const lineEnd = buffered.indexOf('\r\n', at);
      if (lineEnd < 0) break;
      const size = parseInt(buffered.toString('latin1', at, lineEnd).split(';')[0].trim(), 16);
      if (!Number.isFinite(size) || size < 0) throw new Error('a malformed chunk in the answer');
      if (size === 0) {
        // The last chunk's line ends where the (usually empty) trailer section ends: at the first blank line.
        const trailersEnd = buffered.indexOf(HEAD_END, lineEnd);
        if (trailersEnd < 0) break;
        this.complete(Buffer.concat(this.chunkedBody!), head.reusable && buffered.length === trailersEnd + 4);
        return;
      }
      if (buffered.length < lineEnd + 2 + size + 2) break;
      this.chunkedBody!.push(buffered.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    // Keep what is not read yet; the chunks read so far are kept apart.
    this.buffered = buffered.subarray(at);
    head.bodyStart = 0;
  }

  private complete(body: Buffer, reusable: boolean): void {
    const exchange = this.exchange!;
    const { status, headers } = this.head!;
    this.exchange = undefined;
    this.buffered = this.head = this.chunkedBody = undefined;
    if (reusable) {
      this.socket.unref();
      this.idleSince = Date.now();
      this.pool.release(this);
    } else {
      this.socket.destroy();
    }
    exchange.resolve({ status, header: (name) => headers.get(name.toLowerCase()), text: body.toString('utf8') });
  }
}

/** The idle connections to one origin, the most recently used last (taken first). */
class OriginPool {
  private readonly idle: Connection[] = [];
  /** The TLS session to resume on the next connection (https). */
  private tlsSession?: Buffer;
  /** The Host header and what opens a connection. */
  readonly hostHeader: string;

  constructor(private readonly target: URL) {
    this.hostHeader = target.host;
  }

  take(): Connection {
    for (let connection = this.idle.pop(); connection; connection = this.idle.pop()) {
      if (!connection.socket.destroyed && Date.now() - connection.idleSince < IDLE_REUSE_MS) return connection;
      connection.socket.destroy();
    }
    return new Connection(this.open(), this);
  }

  release(connection: Connection): void {
    this.idle.push(connection);
  }

  forget(connection: Connection): void {
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
  }

  private open(): Socket {
    const hostname = this.target.hostname.replace(/^\[(.*)\]$/, '$1');
    if (this.target.protocol === 'http:') return netConnect({ host: hostname, port: Number(this.target.port || 80) });
    const socket = tlsConnect({
      host: hostname,
      port: Number(this.target.port || 443),
      ...(isIP(hostname) ? {} : { servername: hostname }),
      ALPNProtocols: ['http/1.1'],
      session: this.tlsSession,
    });
    socket.on('session', (session: Buffer) => (this.tlsSession = session));
    return socket;
  }
}

const pools = new Map<string, OriginPool>();

/** The transport to `baseUrl` (http or https; its path is prefixed to every request's). */
export function httpTransport(baseUrl: string): DeviceTransport {
  const target = new URL(baseUrl);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`${baseUrl}: only http and https URLs`);
  const prefix = target.pathname.replace(/\/+$/, '');
  let pool = pools.get(target.origin);
  if (!pool) pools.set(target.origin, (pool = new OriginPool(target)));
  const { hostHeader } = pool;
  const originPool = pool;
  return (method, path, headers, body) =>
    new Promise<DeviceResponse>((resolve, reject) => {
      let request = `${method} ${prefix}${path} HTTP/1.1\r\nhost: ${hostHeader}\r\n`;
      for (const name in headers) {
        const value = headers[name];
        if (UNSAFE_HEADER_VALUE.test(value) || UNSAFE_HEADER_VALUE.test(name)) {
          reject(new Error(`header ${name}: a value with a line break`));
          return;
        }
        request += `${name}: ${value}\r\n`;
      }
      request += body === undefined ? '\r\n' : `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      originPool.take().send({ method, resolve, reject }, request);
    });
}

/** The same exchange through a `fetch` (a test's or a runtime's own). */
export function fetchTransport(fetchFn: typeof fetch, baseUrl: string): DeviceTransport {
  return async (method, path, headers, body) => {
    const response = await fetchFn(`${baseUrl}${path}`, { method, headers, body });
    const text = await response.text();
    return { status: response.status, header: (name) => response.headers.get(name) ?? undefined, text };
  };
}
