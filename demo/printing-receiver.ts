/**
 * The demo's webhook: answers every POST with 200, counts it, and hands it to `onEvent`
 * (which prints a few). What the dispatcher sends is in docs/ (headers, body); only the
 * headers the demo shows are passed on.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceivedEvent = { headers: IncomingHttpHeaders; body: string };

export class PrintingReceiver {
  readonly url: string;
  #delivered = 0;

  private constructor(private readonly server: Server) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
  }

  static async start(onEvent: (event: ReceivedEvent) => void): Promise<PrintingReceiver> {
    let receiver: PrintingReceiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (receiver) receiver.#delivered += 1;
        onEvent({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    receiver = new PrintingReceiver(server);
    return receiver;
  }

  /** Requests answered so far. */
  get delivered(): number {
    return this.#delivered;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
