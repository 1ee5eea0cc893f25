import type { Dispatcher } from 'undici';

/**
 * Lets the bundle poller abort its in-flight requests on stop(), whatever dispatcher they
 * use (the global one, or an mTLS Agent the caller owns and that must not be closed).
 * fetchBytes takes no AbortSignal, so this composes an interceptor onto the dispatcher that
 * remembers each request's controller (undici's DispatchController) until it ends.
 */
export class RequestCanceller {
  private readonly pending = new Set<PendingRequest>();

  /** `base` with every request registered here until it ends. */
  wrap(base: Dispatcher): Dispatcher {
    return base.compose((dispatch) => (options, handler) => {
      const request: PendingRequest = { controller: undefined, reason: undefined };
      this.pending.add(request);
      const done = (): void => {
        this.pending.delete(request);
      };
      const wrapped: Dispatcher.DispatchHandler = {
        onRequestStart: (controller, context: unknown) => {
          request.controller = controller;
          // Cancelled while connecting: abort as soon as there is something to abort.
          if (request.reason !== undefined) controller.abort(request.reason);
          handler.onRequestStart?.(controller, context);
        },
        onRequestUpgrade: (controller, statusCode, headers, socket) => {
          handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
        },
        onResponseStart: (controller, statusCode, headers, statusMessage) => {
          handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
        },
        onResponseData: (controller, chunk) => {
          handler.onResponseData?.(controller, chunk);
        },
        onResponseEnd: (controller, trailers) => {
          done();
          handler.onResponseEnd?.(controller, trailers);
        },
        onResponseError: (controller, error) => {
          done();
          handler.onResponseError?.(controller, error);
        },
      };
      try {
        return dispatch(options, wrapped);
      } catch (error) {
        done(); // rejected before it started: it will never end
        throw error;
      }
    });
  }

  /** Aborts every request that has not ended; they reject with `reason`. */
  cancelAll(reason: Error): void {
    for (const request of this.pending) {
      request.reason = reason;
      request.controller?.abort(reason);
    }
  }
}

interface PendingRequest {
  controller: Dispatcher.DispatchController | undefined;
  reason: Error | undefined;
}
