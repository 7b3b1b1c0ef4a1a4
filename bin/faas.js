#!/usr/bin/env node
// Entry point of the `faas` command: loads the TypeScript CLI through tsx,
// runs it and exits with the code it returns.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exit(await main(process.argv.slice(2)));
