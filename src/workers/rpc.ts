import {
  isRecord,
  type RpcBody,
  type RpcKind,
  type RpcReply,
  type RpcRequest,
} from './messages.js';

type Handler = (request: RpcRequest) => Promise<unknown>;

/**
 * Request and reply over one IPC channel (a cluster worker's `process`, or the primary's
 * `Worker`). Each request has a time limit: a peer that died or hangs rejects the call,
 * and the caller's fail-closed path decides (a deny, never an allow).
 */
export class RpcChannel {
  #nextId = 0;
  readonly #pending = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void; timer: NodeJS.Timeout }
  >();
  #handler: Handler | undefined;

  constructor(private readonly send: (message: unknown) => boolean) {}

  /** Serves the peer's requests with `handler`. */
  serve(handler: Handler): void {
    this.#handler = handler;
  }

  request(body: RpcBody, timeoutMs: number): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${body.kind}: no answer over IPC within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      let sent = false;
      try {
        sent = this.send({ t: 'rpc', id, ...body });
      } catch {
        // The channel is closed: handled below.
      }
      if (!sent && this.#pending.delete(id)) {
        clearTimeout(timer);
        reject(new Error(`${body.kind}: the IPC channel is closed`));
      }
    });
  }

  /** Feed every message of the channel here; returns whether it was an RPC message. */
  receive(message: unknown): boolean {
    if (!isRecord(message)) return false;
    if (message.t === 'reply') {
      const reply = message as RpcReply;
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return true;
      this.#pending.delete(reply.id);
      clearTimeout(pending.timer);
      if (reply.ok) pending.resolve(reply.value);
      else pending.reject(new Error(reply.error));
      return true;
    }
    if (message.t === 'rpc') {
      const request = message as RpcRequest;
      const handler = this.#handler;
      const answer =
        handler === undefined ? Promise.reject(new Error('no handler')) : handler(request);
      answer.then(
        (value) => {
          this.reply({ t: 'reply', id: request.id, ok: true, value });
        },
        (error: unknown) => {
          this.reply({ t: 'reply', id: request.id, ok: false, error: String(error) });
        },
      );
      return true;
    }
    return false;
  }

  /** Rejects every call in flight (the peer is gone). */
  close(reason: string): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error(reason));
      this.#pending.delete(id);
    }
  }

  private reply(reply: RpcReply): void {
    try {
      this.send(reply);
    } catch {
      // The requester is gone; nobody waits for this answer.
    }
  }
}

export type { RpcKind };
