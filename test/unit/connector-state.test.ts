import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPyctiState, parsePyctiState, pythonJsonDumps } from '../../ingester/platform/connector-state.js';
import type { StoredCursor } from '../../ingester/position/cursor-store.js';
import { chooseStart, configuredStart } from '../../ingester/position/start-point.js';

describe("pycti's connector state", () => {
  it("is written as Python's json.dumps writes it", () => {
    assert.equal(
      formatPyctiState({ startFrom: '1739361234567-0', recoverUntil: '2025-02-12T11:55:10Z' }),
      '{"start_from": "1739361234567-0", "recover_until": "2025-02-12T11:55:10Z"}',
    );
    assert.equal(formatPyctiState({ startFrom: '0-0', recoverUntil: false }), '{"start_from": "0-0", "recover_until": false}');
  });

  it('escapes non-ASCII like ensure_ascii, and nests with the same separators', () => {
    assert.equal(pythonJsonDumps({ a: ['é', 1, null, true], b: { 'c"': 'x\n' } }), '{"a": ["\\u00e9", 1, null, true], "b": {"c\\"": "x\\n"}}');
  });

  it('reads back what it writes', () => {
    const state = { startFrom: '1739361234567-3', recoverUntil: '2025-02-12T11:55:10Z' as const };
    assert.deepEqual(parsePyctiState(formatPyctiState(state)), state);
  });

  it('treats an empty, null, invalid, non-object or position-less state as no state (a reset)', () => {
    for (const text of [undefined, null, '', 'null', '{}', '[]', '"x"', '{not json', '{"recover_until": "2025-01-01T00:00:00Z"}', '{"start_from": "yesterday"}']) {
      assert.equal(parsePyctiState(text), undefined, String(text));
    }
  });

  it('prefers the legacy keys connectorLastEventId and connectorStartTime, like pycti', () => {
    const state = parsePyctiState(
      '{"connectorLastEventId": "200-1", "connectorStartTime": "2024-05-01T10:00:00+02:00", "start_from": "100-0", "recover_until": "2025-01-01T00:00:00Z"}',
    );
    assert.deepEqual(state, { startFrom: '200-1', recoverUntil: '2024-05-01T08:00:00Z' });
  });

  it("reads pycti's ways of saying no recovery as false", () => {
    for (const recover of ['false', '"no"', '"None"', '"false"', 'null', '"not a date"']) {
      assert.equal(parsePyctiState(`{"start_from": "5-0", "recover_until": ${recover}}`)?.recoverUntil, false, recover);
    }
    assert.equal(parsePyctiState('{"start_from": "5-0"}')?.recoverUntil, false);
  });
});

describe('where the ingester starts', () => {
  const NOW = Date.parse('2025-02-12T11:55:10.789Z');
  const stored: StoredCursor = { cursor: { resumeFrom: '9-0', openEventIds: [], recoverUntil: false, generation: 2 }, commit: 7 };
  const platform = '{"start_from": "5-0", "recover_until": "2025-01-01T00:00:00Z"}';

  it('first start: from the beginning, recovering up to now in whole seconds (pycti)', () => {
    assert.deepEqual(configuredStart({}, NOW), { resumeFrom: '0-0', openEventIds: [], recoverUntil: '2025-02-12T11:55:10Z', generation: 0 });
  });

  it('first start: after the start timestamp, with the configured recover date or none', () => {
    assert.deepEqual(configuredStart({ startTimestamp: 1_700_000_000_000, recoverIsoDate: false }, NOW, 3), {
      resumeFrom: '1700000000000-0',
      openEventIds: [],
      recoverUntil: false,
      generation: 3,
    });
    assert.equal(configuredStart({ recoverIsoDate: '2024-01-01T00:00:00Z' }, NOW).recoverUntil, '2024-01-01T00:00:00Z');
  });

  it('the Redis cursor wins over the platform state, which wins over the configuration', () => {
    assert.deepEqual(chooseStart(stored, platform, {}, NOW), { cursor: stored.cursor, source: 'redis' });
    assert.deepEqual(chooseStart(undefined, platform, { startTimestamp: 1 }, NOW), {
      cursor: { resumeFrom: '5-0', openEventIds: [], recoverUntil: '2025-01-01T00:00:00Z', generation: 0 },
      source: 'platform',
    });
    assert.equal(chooseStart(undefined, '', { startTimestamp: 1 }, NOW).source, 'configured');
    assert.equal(chooseStart(undefined, null, { startTimestamp: 1 }, NOW).cursor.resumeFrom, '1-0');
  });
});
