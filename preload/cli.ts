#!/usr/bin/env node
/**
 * `titan-perf`: prints the preload's absolute location, so NODE_OPTIONS names
 * a file instead of the bare `titan-perf/preload`. NODE_OPTIONS is inherited
 * by every child process, and Node resolves a bare `--require`/`--import`
 * specifier from the child's working directory, before any code of ours runs:
 * a child started in a directory without this package in reach fails with
 * "Cannot find module" and exit 1. An absolute path resolves from anywhere.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const USAGE = `Usage: titan-perf <command>

  preload-path            the preload's absolute file path
  node-options            "--require <path>": the NODE_OPTIONS entry for CommonJS and ESM apps
  node-options --import   "--import <file URL>": the same as an ESM --import
  help                    this text

  export NODE_OPTIONS="$(npx titan-perf node-options) $NODE_OPTIONS"
`;

const COMMANDS = ['preload-path', 'node-options', 'help'];

/** The compiled preload next to this file (dist/preload/index.js), as Node would load it. */
export function preloadPath(): string {
  return join(__dirname, 'index.js');
}

/** One NODE_OPTIONS entry; a path with white space is double-quoted, the way Node splits NODE_OPTIONS. */
export function nodeOptionsEntry(form: 'require' | 'import', path = preloadPath()): string {
  if (form === 'import') return `--import ${pathToFileURL(path).href}`;
  return /[\s"\\]/.test(path) ? `--require "${path.replace(/["\\]/g, '\\$&')}"` : `--require ${path}`;
}

function main(argv: string[]): number {
  const [command = 'help', ...rest] = argv;
  const fail = (message: string): number => {
    process.stderr.write(`titan-perf: ${message} (code TITAN_PERF_INVALID_ARGUMENT)\n\n${USAGE}`);
    return 2;
  };
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'preload-path') {
    if (rest.length > 0) return fail(`preload-path takes no arguments; got ${JSON.stringify(rest.join(' '))}`);
    process.stdout.write(`${preloadPath()}\n`);
    return 0;
  }
  if (command === 'node-options') {
    if (rest.length > 1 || (rest.length === 1 && rest[0] !== '--import' && rest[0] !== '--require')) {
      return fail(`node-options takes --require (the default) or --import; got ${JSON.stringify(rest.join(' '))}`);
    }
    process.stdout.write(`${nodeOptionsEntry(rest[0] === '--import' ? 'import' : 'require')}\n`);
    return 0;
  }
  return fail(`unknown command ${JSON.stringify(command)}; expected one of: ${COMMANDS.join(', ')}`);
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
