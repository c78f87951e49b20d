/**
 * A minimal forward proxy on 127.0.0.1 that only tunnels (HTTP CONNECT), as
 * corporate egress proxies do for HTTPS and undici's ProxyAgent uses for
 * every target. It counts the tunnels it opened and keeps the headers of
 * each CONNECT request; any other request is answered 405.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

export interface TunnelRecord {
  /** `host:port` asked for. */
  target: string;
  headers: IncomingHttpHeaders;
}

export class ConnectProxy {
  readonly url: string;
  readonly tunnels: TunnelRecord[] = [];
  /** Requests that were not CONNECT (refused). */
  refused = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.#server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  static async start(): Promise<ConnectProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: 0, host: '127.0.0.1' }, () => resolve());
    });
    const proxy = new ConnectProxy(server);
    server.on('request', (_req, res) => {
      proxy.refused += 1;
      res.writeHead(405, { connection: 'close' }).end();
    });
    server.on('connect', (req, client: Socket, head: Buffer) => proxy.#tunnel(req.url ?? '', req.headers, client, head));
    return proxy;
  }

  #tunnel(target: string, headers: IncomingHttpHeaders, client: Socket, head: Buffer): void {
    this.tunnels.push({ target, headers });
    const separator = target.lastIndexOf(':');
    const host = target.slice(0, separator).replace(/^\[|\]$/g, '');
    const upstream = connect({ host, port: Number(target.slice(separator + 1)) });
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
