/**
 * Imported first by every entry point, so it runs before any dependency
 * loads: on an unsupported Node.js, undici 8 fails at import with a bare
 * TypeError. This says what is wrong instead, in one line, and exits 1.
 */

/** The oldest supported release of each line (package.json `engines`: ^22.19.0 || >=24.0.0). */
export const SUPPORTED_NODE = { 22: [22, 19], 24: [24, 0] } as const;

/** Why `version` (process.versions.node) cannot run the product, or undefined when it can. */
export function unsupportedNode(version: string): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major >= 24 || (major === 22 && minor >= SUPPORTED_NODE[22][1])) return undefined;
  return `opencti-webhook needs Node.js 22.19 or later (the 22 or 24 LTS line); this is Node.js ${version}. Install one from https://nodejs.org or use the images.`;
}

const problem = unsupportedNode(process.versions.node);
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
