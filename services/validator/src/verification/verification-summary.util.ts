/** Ledger counts of one miner (`<origin>:<outcome>[:<reason>]` → count) summed into what the status page shows. */
export function verificationSummary(entry: Record<string, number> | undefined): {
  verified: number;
  failed: Record<string, number>;
  syntheticVerified: number;
  syntheticFailed: number;
} {
  const summary = {
    verified: 0,
    failed: {} as Record<string, number>,
    syntheticVerified: 0,
    syntheticFailed: 0,
  };
  for (const [key, count] of Object.entries(entry ?? {})) {
    const [origin, outcome, reason] = key.split(':');
    if (outcome === 'verified') {
      summary.verified += count;
      if (origin === 'synthetic') summary.syntheticVerified += count;
    } else if (outcome === 'failed') {
      const label = reason ?? 'unknown';
      summary.failed[label] = (summary.failed[label] ?? 0) + count;
      if (origin === 'synthetic') summary.syntheticFailed += count;
    }
  }
  return summary;
}
