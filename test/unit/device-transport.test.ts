/**
 * The device client's own HTTP/1.1 (src/device-client/transport.ts): keep-alive reuse, the framings
 * an answer may come in (Content-Length, chunked, up to the close), 1xx answers skipped, answers
 * split anywhere, connections the server closes, and refusals of what it cannot read or send.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { httpTransport } from '../../src/device-client/transport';

const servers: Array<HttpServer | NetServer> = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          // The client keeps its connections alive: the server drops them to close.
          for (const socket of open.get(server) ?? []) socket.destroy();
          server.close(() => resolve());
        }),
    ),
  );
});

const open = new Map<HttpServer | NetServer, Set<Socket>>();

function listen<T extends HttpServer | NetServer>(server: T): Promise<string> {
  servers.push(server);
  const sockets = new Set<Socket>();
  open.set(server, sockets);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

function bodyOf(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** A raw server answering each request (up to its blank line and its Content-Length body) with `answer`. */
async function rawServer(
  answer: (socket: Socket, request: string, n: number) => void,
): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  let n = 0;
  const url = await listen(
    createNetServer((socket) => {
      connections++;
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const request = buffered.slice(0, end + 4 + length);
        buffered = buffered.slice(end + 4 + length);
        answer(socket, request, n++);
      });
      socket.on('error', () => {});
    }),
  );
  return { url, connections: () => connections };
}

test('requests go out whole (host, headers, length, UTF-8 body) and share one kept-alive connection', async () => {
  const seen: Array<{ method?: string; url?: string; headers: IncomingMessage['headers']; body: string }> = [];
  const sockets = new Set<unknown>();
  const url = await listen(
    createHttpServer((request, response) => {
      sockets.add(request.socket);
      void bodyOf(request).then((body) => {
        seen.push({ method: request.method, url: request.url, headers: request.headers, body });
        response.writeHead(201, { 'content-type': 'application/json', 'x-answer': 'yes' }).end(JSON.stringify({ ok: 'ü' }));
      });
    }),
  );
  const send = httpTransport(`${url}/base/`);
  const first = await send(
    'POST',
    '/v1/things',
    { 'content-type': 'application/json', authorization: 'Device lic1.a.b' },
    '{"name":"Zoë"}',
  );
  const second = await send('GET', '/v1/keys', {});
  expect(first.status).toBe(201);
  expect(first.text).toBe('{"ok":"ü"}');
  expect(first.header('X-Answer')).toBe('yes');
  expect(first.header('retry-after')).toBeUndefined();
  expect(second.status).toBe(201);
  expect(seen[0]).toMatchObject({
    method: 'POST',
    url: '/base/v1/things',
    body: '{"name":"Zoë"}',
    headers: { host: new URL(url).host, 'content-length': String(Buffer.byteLength('{"name":"Zoë"}')), authorization: 'Device lic1.a.b' },
  });
  expect(seen[1]).toMatchObject({ method: 'GET', url: '/base/v1/keys', body: '' });
  expect(sockets.size).toBe(1);
});

test('a chunked answer is read whole, with or without trailers', async () => {
  const url = await listen(
    createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.write('first part, ');
      setTimeout(() => response.end('second part'), 10);
    }),
  );
  const send = httpTransport(url);
  expect((await send('GET', '/', {})).text).toBe('first part, second part');
  expect((await send('GET', '/', {})).text).toBe('first part, second part');

  const raw = await rawServer((socket) =>
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n'),
  );
  expect((await httpTransport(raw.url)('GET', '/', {})).text).toBe('hello world');
  expect((await httpTransport(raw.url)('GET', '/', {})).text).toBe('hello world');
  expect(raw.connections()).toBe(1);
});

test('an answer split anywhere, byte by byte, after a 100 Continue, is read whole', async () => {
  const answer =
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 12\r\n\r\n{"error":"x"}';
  const raw = await rawServer((socket) => {
    // 12 bytes of body are announced: the 13th is the next answer's, out of turn, and the connection is dropped.
    const bytes = Buffer.from(answer.slice(0, -1));
    let i = 0;
    const next = (): void => {
      if (i < bytes.length) socket.write(bytes.subarray(i, ++i), () => setImmediate(next));
    };
    next();
  });
  const response = await httpTransport(raw.url)('POST', '/v1/x', {}, '{}');
  expect(response).toMatchObject({ status: 503, text: '{"error":"x"' });
  expect(response.header('retry-after')).toBe('7');
});

test('an answer that closes the connection, or has no length, is not followed on that connection', async () => {
  const raw = await rawServer((socket, _request, n) => {
    if (n === 0) socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
    else socket.end('HTTP/1.0 200 OK\r\n\r\nup to the close');
  });
  const send = httpTransport(raw.url);
  expect((await send('GET', '/', {})).text).toBe('ok');
  expect((await send('GET', '/', {})).text).toBe('up to the close');
  expect((await send('GET', '/', {})).text).toBe('up to the close');
  expect(raw.connections()).toBe(3);
});

test('a connection the server closed while idle is not used again; a refused or malformed exchange fails', async () => {
  const sockets: Socket[] = [];
  const raw = await rawServer((socket) => {
    sockets.push(socket);
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const send = httpTransport(raw.url);
  await send('GET', '/', {});
  sockets[0].end();
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect((await send('GET', '/', {})).text).toBe('ok');
  expect(raw.connections()).toBe(2);

  await expect(send('GET', '/', { 'x-evil': 'a\r\nx-injected: 1' })).rejects.toThrow('line break');
  const garbage = await rawServer((socket) => socket.write('SMTP ready\r\n\r\n'));
  await expect(httpTransport(garbage.url)('GET', '/', {})).rejects.toThrow('not an HTTP/1.x answer');
  const dropped = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'));
  await expect(httpTransport(dropped.url)('GET', '/', {})).rejects.toThrow('before the answer was complete');
  const closed = createNetServer();
  const closedUrl = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
  servers.pop();
  await expect(httpTransport(closedUrl)('GET', '/', {})).rejects.toThrow('ECONNREFUSED');
  expect(() => httpTransport('ftp://example.test')).toThrow('only http and https');
});
