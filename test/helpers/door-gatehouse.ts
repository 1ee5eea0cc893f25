import { connect } from '../transport/grpc/grpc-test-client.js';
import { askDoor, type Door, type DoorAnswer, type DoorTarget } from './check-doors.js';
import {
  startTestGatehouse,
  type TestGatehouse,
  type TestGatehouseOptions,
} from './test-gatehouse.js';

/**
 * A real Gatehouse (startTestGatehouse) with a real gRPC client connected to it: what a suite
 * needs to ask one request through every check door. close() closes the client, then
 * Gatehouse.
 */
export interface DoorGatehouse {
  readonly t: TestGatehouse;
  readonly target: DoorTarget;
  /** One request through `door`; headers as the client sent them. */
  ask(
    door: Door,
    method: string,
    path: string,
    headers?: Record<string, string>,
  ): Promise<DoorAnswer>;
  close(): Promise<void>;
}

export async function startDoorGatehouse(
  options: TestGatehouseOptions = {},
): Promise<DoorGatehouse> {
  const t = await startTestGatehouse(options);
  const target: DoorTarget = { grpc: connect(t.gatehouse.grpcPort ?? 0), httpBase: t.httpBase };
  return {
    t,
    target,
    ask: (door, method, path, headers = {}) => askDoor(door, target, { method, path, headers }),
    close: async () => {
      target.grpc.close();
      await t.close();
    },
  };
}
