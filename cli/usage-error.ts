import type { CommandName } from './args.js';

/** Error in the command line. `command` names the command whose help explains the fix. */
export class UsageError extends Error {
  override readonly name = 'UsageError';

  constructor(
    message: string,
    readonly command?: CommandName,
  ) {
    super(message);
  }
}
