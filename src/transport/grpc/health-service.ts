import {
  status as GrpcStatus,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import type { Authorizer } from '../../check/authorizer.js';
import { AUTHORIZATION_SERVICE, type HealthServiceDefinition } from './load-protos.js';
import {
  ServingStatus,
  type HealthCheckRequestMessage,
  type HealthCheckResponseMessage,
} from './wire-types.js';

/** How often Watch looks at readiness, in milliseconds. */
export const HEALTH_WATCH_POLL_MS = 1000;

/** "" is the server as a whole (grpc health-checking.md); the other is what Envoy calls. */
const KNOWN_SERVICES: ReadonlySet<string> = new Set(['', AUTHORIZATION_SERVICE]);

export interface HealthServiceOptions {
  readonly authorizer: Authorizer;
  /** Readiness poll interval for Watch, in milliseconds; default HEALTH_WATCH_POLL_MS. */
  readonly watchPollMs?: number;
}

type HealthStream = ServerWritableStream<HealthCheckRequestMessage, HealthCheckResponseMessage>;

export interface HealthService {
  readonly definition: HealthServiceDefinition;
  readonly implementation: {
    readonly Check: handleUnaryCall<HealthCheckRequestMessage, HealthCheckResponseMessage>;
    readonly Watch: handleServerStreamingCall<
      HealthCheckRequestMessage,
      HealthCheckResponseMessage
    >;
  };
  /** Ends every open Watch stream, so a graceful shutdown does not wait for clients. */
  endWatches(): void;
  /** Looks at readiness for every open Watch now, sending a change without the poll's wait. */
  pollWatches(): void;
}

/**
 * grpc.health.v1.Health, per https://github.com/grpc/grpc/blob/master/doc/health-checking.md:
 * SERVING once the authorizer has an active snapshot, NOT_SERVING before. Check answers
 * NOT_FOUND for a service it does not know; Watch sends SERVICE_UNKNOWN and stays open, as
 * the protocol asks.
 */
export function createHealthService(
  health: HealthServiceDefinition,
  options: HealthServiceOptions,
): HealthService {
  const { authorizer } = options;
  const pollMs = options.watchPollMs ?? HEALTH_WATCH_POLL_MS;
  const watches = new Map<HealthStream, () => void>();
  const polls = new Set<() => void>();

  const current = (): ServingStatus => {
    try {
      return authorizer.isReady() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    } catch {
      // A readiness probe that cannot tell is not ready.
      return ServingStatus.NOT_SERVING;
    }
  };

  const Check: handleUnaryCall<HealthCheckRequestMessage, HealthCheckResponseMessage> = (
    call,
    callback,
  ) => {
    if (!KNOWN_SERVICES.has(serviceName(call.request))) {
      callback({ code: GrpcStatus.NOT_FOUND, details: 'unknown service' });
      return;
    }
    callback(null, { status: current() });
  };

  const Watch: handleServerStreamingCall<HealthCheckRequestMessage, HealthCheckResponseMessage> = (
    call,
  ) => {
    if (!KNOWN_SERVICES.has(serviceName(call.request))) {
      call.write({ status: ServingStatus.SERVICE_UNKNOWN });
      watches.set(call, () => undefined);
    } else {
      let last = current();
      call.write({ status: last });
      const poll = (): void => {
        const now = current();
        if (now === last) return;
        last = now;
        call.write({ status: now });
      };
      const timer = setInterval(poll, pollMs);
      // The server keeps the process alive; a forgotten watch must not.
      timer.unref();
      polls.add(poll);
      watches.set(call, () => {
        clearInterval(timer);
        polls.delete(poll);
      });
    }
    const stop = (): void => {
      watches.get(call)?.();
      watches.delete(call);
    };
    call.on('cancelled', stop);
    call.on('error', stop);
  };

  return {
    definition: health,
    implementation: { Check, Watch },
    endWatches: () => {
      for (const [call, stop] of watches) {
        stop();
        call.end();
      }
      watches.clear();
    },
    pollWatches: () => {
      for (const poll of polls) poll();
    },
  };
}

function serviceName(request: HealthCheckRequestMessage): string {
  return typeof request.service === 'string' ? request.service : '';
}
