import { verificationSummary } from './verification-summary.util';

describe('verificationSummary', () => {
  it('sums verified answers and failures by reason, with the synthetic ones apart', () => {
    expect(
      verificationSummary({
        'organic:verified': 3,
        'synthetic:verified': 5,
        'synthetic:failed:not_top_token': 2,
        'organic:failed:not_top_token': 1,
        'organic:failed:text_mismatch': 4,
      }),
    ).toEqual({
      verified: 8,
      failed: { not_top_token: 3, text_mismatch: 4 },
      syntheticVerified: 5,
      syntheticFailed: 2,
    });
  });

  it('reports nothing verified for a miner never checked', () => {
    expect(verificationSummary(undefined)).toEqual({
      verified: 0,
      failed: {},
      syntheticVerified: 0,
      syntheticFailed: 0,
    });
  });
});
