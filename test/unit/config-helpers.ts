import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../shared/config/load.js';

/** The least an ingester needs. */
export const INGESTER_ENV: Readonly<Record<string, string>> = {
  OPENCTI_URL: 'http://opencti:8080',
  OPENCTI_TOKEN: 'opencti-secret-token',
  CONNECTOR_ID: 'connector-1',
  CONNECTOR_NAME: 'Webhook',
  CONNECTOR_LIVE_STREAM_ID: 'live',
};

/** The least a dispatcher needs. */
export const DISPATCHER_ENV: Readonly<Record<string, string>> = {
  CONNECTOR_ID: 'connector-1',
  CONNECTOR_NAME: 'Webhook',
  WEBHOOK_URL: 'https://receiver.example/hook',
};

/** A temp directory for config files; `cleanup` removes it. */
export function tempDir(): { dir: string; write(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'opencti-webhook-config-'));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs `load`, asserts it throws a ConfigError and returns it. */
export function configError(load: () => unknown): ConfigError {
  let caught: unknown;
  assert.throws(load, (error: unknown) => {
    caught = error;
    return error instanceof ConfigError;
  });
  return caught as ConfigError;
}

export function variables(error: ConfigError): string[] {
  return error.problems.map((problem) => problem.variable).sort();
}
