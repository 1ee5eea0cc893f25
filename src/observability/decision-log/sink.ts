/** What came of one attempt to deliver a batch. */
export type SendOutcome =
  | { readonly kind: 'sent' }
  /** Worth trying again later (network error, timeout, 5xx, 408, 429, 401). */
  | { readonly kind: 'retry'; readonly reason: string }
  /** The receiver refused the batch for good (another 4xx): retrying would not help. */
  | { readonly kind: 'rejected'; readonly reason: string };

/** Where decision-log records go. A batch is a list of JSON-encoded records. */
export interface DecisionLogSink {
  /** The metric label: `console` or `service`. */
  readonly name: string;
  send(batch: readonly string[], signal: AbortSignal): Promise<SendOutcome>;
  close?(): Promise<void>;
}
