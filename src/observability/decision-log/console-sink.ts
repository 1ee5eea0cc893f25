import type { Writable } from 'node:stream';
import type { DecisionLogSink, SendOutcome } from './sink.js';

/**
 * JSON lines on a stream (standard output by default), one record per line, for log
 * collectors that read container output. Waits for `drain` when the stream is full, so a
 * slow reader holds back the shipper, not the checks.
 */
export class ConsoleSink implements DecisionLogSink {
  readonly name = 'console';

  constructor(private readonly stream: Writable = process.stdout) {}

  async send(batch: readonly string[]): Promise<SendOutcome> {
    const text = batch.map((record) => `${record}\n`).join('');
    try {
      await new Promise<void>((resolve, reject) => {
        const flushed = this.stream.write(text, (error) => {
          if (error !== undefined && error !== null) reject(error);
          else if (flushed) resolve();
        });
        if (!flushed) this.stream.once('drain', resolve);
      });
      return { kind: 'sent' };
    } catch (error) {
      return { kind: 'retry', reason: error instanceof Error ? error.message : String(error) };
    }
  }
}
