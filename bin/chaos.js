#!/usr/bin/env node
// The `chaos` command. The harness is TypeScript run through tsx, so there is no build step
// between a checkout and a game day.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../engine/cli.ts');
process.exitCode = await main(process.argv);
