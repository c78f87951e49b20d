import { createRequire } from 'node:module';

// dist/shared/process/version.js sits three levels below package.json.
const manifest = createRequire(import.meta.url)('../../../package.json') as { name: string; version: string };

export const USER_AGENT = `${manifest.name}/${manifest.version}`;
