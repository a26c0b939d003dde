/** An error the CLI reports as one line and exit code 2 (bad flags, bad input files). */
export class UsageError extends Error {
  readonly code = 'USAGE' as const;
}

/** Exit status and the single line to print for any error reaching the top of a command. */
export function describeFailure(error: unknown): { line: string; exitCode: number } {
  if (error instanceof UsageError) return { line: error.message, exitCode: 2 };
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split('\n')[0];
  // Node's system errors already start with their code ("ENOTDIR: not a directory, …").
  const named = typeof code === 'string' && !firstLine.startsWith(`${code}:`);
  return { line: named ? `${code}: ${firstLine}` : firstLine, exitCode: typeof code === 'string' && (code.startsWith('CONFIG') || code.startsWith('ERR_KEYRING')) ? 2 : 1 };
}
