/** Where things are, once for every test. */
import { join } from 'node:path';

/** The repository root (the package under test). */
export const ROOT = join(__dirname, '..', '..');
/** Test fixtures: small programs the tests run as real processes. */
export const FIXTURES = join(ROOT, 'test', 'fixtures');
/** The built package. */
export const DIST = join(ROOT, 'dist');
