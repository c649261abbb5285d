import { type RevealSchedule, type RevealTarget, revealTarget } from './reveal-round';
import { type TimelockRandomness, timelockEncryptToBytes } from './tlock';
import {
  type WeightsPayloadFormat,
  type WeightsTlockPayload,
  encodeWeightsTlockPayload,
} from './weights-payload';

export interface TimelockedWeightsCommit extends RevealTarget {
  /** The serialized `TLECiphertext` the commit call carries. */
  commit: Buffer;
  /** The SCALE payload inside it. */
  payload: Uint8Array;
}

export interface TimelockedWeightsRequest {
  weights: WeightsTlockPayload;
  format: WeightsPayloadFormat;
  schedule: RevealSchedule;
  blockTimeSeconds: number;
  nowSeconds?: number;
  randomness?: TimelockRandomness;
}

/** The payload, the round it is locked to and the ciphertext: everything a timelocked commit needs. */
export function timelockWeightsCommit(request: TimelockedWeightsRequest): TimelockedWeightsCommit {
  const payload = encodeWeightsTlockPayload(request.weights, request.format);
  const target = revealTarget(request.schedule, request.blockTimeSeconds, request.nowSeconds);
  return { ...target, payload, commit: timelockEncryptToBytes(payload, target.round, request.randomness) };
}
