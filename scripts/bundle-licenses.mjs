// The notices a bundle owes the packages inside it: each package's name,
// version, license and its LICENSE file, from esbuild's metafile inputs.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeThirdPartyLicenses(root, metafiles, outFile) {
  const dirs = new Set();
  for (const meta of metafiles) {
    // Inputs in a plugin namespace ("ns:path") only point at a module that another file holds.
    for (const input of Object.keys(meta.inputs).filter((i) => !/^[a-z-]+:/.test(i))) {
      const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (m) dirs.add(m[1]);
    }
  }
  // Packages whose license text is the same word for word share one copy of it.
  const byText = new Map();
  for (const dir of [...dirs].sort()) {
    const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
    const file = readdirSync(join(root, dir)).find((f) => /^(licen[sc]e|copying)(\.|$)/i.test(f));
    const text =
      file && existsSync(join(root, dir, file))
        ? readFileSync(join(root, dir, file), 'utf8').trim()
        : `(no license file; package.json says ${pkg.license})`;
    const names = byText.get(text) ?? byText.set(text, []).get(text);
    names.push(`${pkg.name}@${pkg.version} (${pkg.license ?? 'unknown'})`);
  }
  const parts = [...byText].map(([text, names]) => `${names.join('\n')}\n\n${text}\n`);
  writeFileSync(outFile, `Third-party packages bundled in this folder\n\n${parts.join(`\n${'-'.repeat(72)}\n\n`)}`);
  return dirs.size;
}
