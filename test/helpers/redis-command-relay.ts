import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A Redis proxy on loopback that reads the commands passing through, to put a
 * fault at an exact point of a client's protocol: `failTransaction` holds the
 * first MULTI…EXEC block that matches, runs a hook (a SCRIPT FLUSH on another
 * connection, say) before forwarding it, and from then on lets nothing any
 * client sends reach Redis, as if the process had died right after that EXEC.
 * Replies keep flowing. RESP only (what ioredis sends); no inline commands.
 */
export class RedisCommandRelay {
  readonly #sockets = new Set<Socket>();
  #frozen = false;
  #fault: Fault | undefined;

  private constructor(
    private readonly server: Server,
    private readonly targetPort: number,
  ) {}

  static async start(targetPort: number): Promise<RedisCommandRelay> {
    const server = createServer();
    const relay = new RedisCommandRelay(server, targetPort);
    server.on('connection', (client) => relay.#relay(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /**
   * Arms the fault: the next transaction whose commands (name lower-cased,
   * then arguments) satisfy `match` waits for `before`, is forwarded, and
   * freezes every client. Resolves once Redis answered its EXEC.
   */
  failTransaction(match: (commands: readonly string[][]) => boolean, before: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#fault = { match, before, answered: resolve, failed: reject };
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  #relay(client: Socket): void {
    const upstream = connect(this.targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());

    let forwarded = 0;
    let answered = 0;
    const replyWaiters: Array<{ count: number; resolve: () => void }> = [];
    const replies = new RespReader((count) => {
      answered += count;
      for (const waiter of replyWaiters.filter(({ count: n }) => answered >= n)) {
        replyWaiters.splice(replyWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk);
      replies.push(chunk);
    });

    const forward = (commands: readonly Command[]): void => {
      for (const { raw } of commands) upstream.write(raw);
      forwarded += commands.length;
    };
    let block: Command[] | undefined;
    let chain = Promise.resolve();
    const onCommand = async (command: Command): Promise<void> => {
      if (this.#frozen) return;
      const name = command.args[0] ?? '';
      if (!block) {
        if (name === 'multi') block = [command];
        else forward([command]);
        return;
      }
      block.push(command);
      if (name !== 'exec' && name !== 'discard') return;
      const held = block;
      block = undefined;
      const fault = this.#fault;
      if (name !== 'exec' || !fault?.match(held.map(({ args }) => args))) return forward(held);
      this.#fault = undefined;
      try {
        await fault.before();
      } catch (error) {
        fault.failed(error);
      }
      forward(held);
      this.#frozen = true;
      replyWaiters.push({ count: forwarded, resolve: () => fault.answered() });
    };
    const commands = new RespReader(() => undefined, (command) => {
      chain = chain.then(() => onCommand(command));
    });
    client.on('data', (chunk: Buffer) => commands.push(chunk));
  }
}

interface Fault {
  match: (commands: readonly string[][]) => boolean;
  before: () => Promise<void>;
  answered: () => void;
  failed: (error: unknown) => void;
}

interface Command {
  /** The command name lower-cased, then its arguments. */
  args: string[];
  raw: Buffer;
}

/** Splits a RESP byte stream into top-level values: counts them, and decodes those that are commands (arrays of bulk strings). */
class RespReader {
  #buffer: Buffer = Buffer.alloc(0);

  constructor(
    private readonly onValues: (count: number) => void,
    private readonly onCommand?: (command: Command) => void,
  ) {}

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    let offset = 0;
    let count = 0;
    for (;;) {
      const end = skipValue(this.#buffer, offset);
      if (end === -1) break;
      if (this.onCommand) this.onCommand({ args: decodeCommand(this.#buffer.subarray(offset, end)), raw: this.#buffer.subarray(offset, end) });
      offset = end;
      count += 1;
    }
    this.#buffer = this.#buffer.subarray(offset);
    if (count > 0) this.onValues(count);
  }
}

/** Offset just past the RESP value that starts at `offset`, or -1 while `buffer` does not hold all of it. */
function skipValue(buffer: Buffer, offset: number): number {
  if (offset >= buffer.length) return -1;
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd === -1) return -1;
  const type = String.fromCharCode(buffer[offset]!);
  const length = Number(buffer.toString('latin1', offset + 1, lineEnd));
  let next = lineEnd + 2;
  if (type === '$' || type === '=' || type === '!') {
    if (length < 0) return next;
    return buffer.length >= next + length + 2 ? next + length + 2 : -1;
  }
  if (type === '*' || type === '~' || type === '>' || type === '%' || type === '|') {
    const elements = type === '%' || type === '|' ? 2 * length : length;
    for (let i = 0; i < elements && next !== -1; i += 1) next = skipValue(buffer, next);
    // A RESP3 attribute annotates the value that follows it.
    return type === '|' && next !== -1 ? skipValue(buffer, next) : next;
  }
  return next;
}

/** The bulk strings of a command array, the name lower-cased. */
function decodeCommand(raw: Buffer): string[] {
  const args: string[] = [];
  let offset = raw.indexOf('\r\n') + 2;
  while (offset < raw.length) {
    const lineEnd = raw.indexOf('\r\n', offset);
    const length = Number(raw.toString('latin1', offset + 1, lineEnd));
    args.push(raw.toString('utf8', lineEnd + 2, lineEnd + 2 + length));
    offset = lineEnd + 2 + length + 2;
  }
  if (args[0] !== undefined) args[0] = args[0].toLowerCase();
  return args;
}
