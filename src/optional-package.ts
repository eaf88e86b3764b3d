/**
 * Packages only some users need (other OTLP protocols, the Prometheus
 * exporter, ioredis, generic-pool) are optional peer dependencies: npm does
 * not install them, so a service that runs only the preload does not carry
 * them. Each is required here, at the moment a configured feature needs it;
 * when it is missing the error says in one line what to install.
 */
import { TitanPerfError } from './errors';

export const PACKAGE_MISSING_CODE = 'TITAN_PERF_PACKAGE_MISSING';

export class MissingPackageError extends TitanPerfError {
  readonly packageName: string;
  constructor(packageName: string, neededFor: string) {
    super(
      PACKAGE_MISSING_CODE,
      `${neededFor} needs the package ${packageName}, which is not installed: npm install ${packageName}@'${rangeOf(packageName)}'`,
    );
    this.name = 'MissingPackageError';
    this.packageName = packageName;
  }
}

/** The range this version of titan-perf was tested with, from its own package.json (read only on this error path). */
function rangeOf(name: string): string {
  try {
    const pkg = require('../../package.json') as { peerDependencies?: Record<string, string> };
    return pkg.peerDependencies?.[name] ?? 'latest';
  } catch {
    return 'latest';
  }
}

/**
 * `load()`, or a MissingPackageError naming what to install when the package
 * itself is absent. `load` is a literal `() => require('name')` at the call
 * site so that a bundler (the sidecar and preload bundles) can see and
 * include the package.
 */
export function requireOptional<T>(name: string, neededFor: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Only the package itself being absent is "missing"; a broken install deeper down keeps its own error.
    if (e?.code === 'MODULE_NOT_FOUND' && String(e.message).includes(`'${name}'`))
      throw new MissingPackageError(name, neededFor);
    throw err;
  }
}
