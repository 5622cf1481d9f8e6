/**
 * The one error type users see. Every message says what was wrong, shows the offending value and
 * says what to do about it, so a failure deep inside a training run can be acted on directly.
 */
export class TakError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TakError';
  }
}

/** Formats a value for an error message: shapes as [a, b, c], strings quoted, long arrays cut. */
export function show(value: unknown): string {
  if (Array.isArray(value)) {
    const items = value.length > 8 ? [...value.slice(0, 8).map(show), '…'] : value.map(show);
    return `[${items.join(', ')}]`;
  }
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

/** Throws a TakError with `message` unless `condition` holds. */
export function check(condition: unknown, message: () => string): asserts condition {
  if (!condition) throw new TakError(message());
}
