import {
  verifyCompletion,
  type ReferenceModel,
  type ReturnedAnswer,
  type Tolerances,
  type Verdict,
} from '@chattensor/inference';
import type { minerV1 } from '@chattensor/protocol';
import { requestSampling } from '@chattensor/scoring';

export {
  FAILURE_REASONS,
  type FailureReason,
  type ReturnedAnswer,
  type Tolerances,
  type Verdict,
} from '@chattensor/inference';

/** Where an answer came from: a user's request or the leader's synthetic traffic. */
export type AnswerOrigin = 'organic' | 'synthetic';

/** Verifies a miner's answer to a GenerateRequest against the reference model (libs/inference verifyCompletion). */
export function verifyAnswer(
  reference: ReferenceModel,
  request: minerV1.GenerateRequest,
  answer: ReturnedAnswer,
  tolerances: Tolerances,
): Promise<Verdict> {
  return verifyCompletion(reference, requestSampling(request), answer, tolerances);
}
