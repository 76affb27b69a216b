#!/usr/bin/env node
// The package's `bin` entries all link here: the name they were called by picks the stage in scripts/.
// Resolving tsx from this file (not from the caller's folder) lets them run from anywhere.
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

register();
const stage = basename(process.argv[1]).replace(/\.[cm]?[jt]s$/, '');
process.argv[1] = join(dirname(fileURLToPath(import.meta.url)), '..', 'scripts', `${stage}.ts`);
await import(pathToFileURL(process.argv[1]).href);
