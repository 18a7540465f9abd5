/**
 * A TLS gRPC endpoint that answers every call UNAUTHENTICATED and keeps the headers it was sent:
 * what a client really puts on the wire (an API key's `authorization` header), seen from the
 * server's side of a TLS connection.
 */
import { createSecureServer, type Http2Session, type IncomingHttpHeaders } from 'node:http2';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

export interface RecordingGrpcEndpoint {
  address: string;
  /** Headers of each call received, oldest first, with the gRPC method in `:path`. */
  calls: IncomingHttpHeaders[];
  close(): Promise<void>;
}

export async function startRecordingGrpcEndpoint(tls: { cert: string; key: string }): Promise<RecordingGrpcEndpoint> {
  const calls: IncomingHttpHeaders[] = [];
  const server = createSecureServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key), allowHTTP1: false });
  server.on('stream', (stream, headers) => {
    calls.push(headers);
    // A trailers-only gRPC answer: status 16 (UNAUTHENTICATED), so the client gives up at once.
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'recorded' },
      { endStream: true },
    );
  });
  server.on('sessionError', () => undefined);
  // Clients keep their connection open after a failed call; close() ends them rather than waiting.
  const sessions = new Set<Http2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}
