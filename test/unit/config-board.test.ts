import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { BoardConfigSchema, loadBoardConfig } from '../../dispatcher/config.js';
import { loadConfig } from '../../shared/config/load.js';
import { configError, DISPATCHER_ENV, tempDir, variables } from './config-helpers.js';
import { dispatcherConfig } from '../helpers/config.js';

const files = tempDir();
const empty = files.write('empty.yml', '');
after(() => files.cleanup());

const dispatcher = (env: Record<string, string | undefined> = {}) => dispatcherConfig({ env: { ...DISPATCHER_ENV, ...env }, file: empty });
const board = (env: Record<string, string | undefined> = {}) =>
  loadConfig(BoardConfigSchema, { env: { CONNECTOR_ID: 'connector-1', CONNECTOR_NAME: 'Webhook', ...env }, file: empty });

describe('bull-board settings', () => {
  it('default to a disabled, read-write board on 127.0.0.1:3000 at /', () => {
    assert.deepEqual(dispatcher().bull_board, { enable: false, addr: '127.0.0.1', port: 3000, base_path: '/', read_only: false });
  });

  it('allow a board on loopback without credentials', () => {
    assert.equal(dispatcher({ BULL_BOARD_ENABLE: 'true', BULL_BOARD_ADDR: '::1' }).bull_board.enable, true);
  });

  it('refuse a board beyond loopback without credentials, naming both variables, together with other problems', () => {
    const error = configError(() => dispatcher({ BULL_BOARD_ENABLE: 'true', BULL_BOARD_ADDR: '0.0.0.0', BULL_BOARD_PORT: '0' }));
    assert.deepEqual(variables(error), ['BULL_BOARD_PASSWORD', 'BULL_BOARD_PORT', 'BULL_BOARD_USERNAME']);
    assert.match(error.message, /BULL_BOARD_USERNAME .*beyond loopback/);
  });

  it('refuse half of the credentials, without echoing the password', () => {
    const error = configError(() => dispatcher({ BULL_BOARD_ENABLE: 'yes', BULL_BOARD_PASSWORD: 'pa55-w0rd' }));
    assert.deepEqual(variables(error), ['BULL_BOARD_USERNAME']);
    assert.doesNotMatch(error.message, /pa55-w0rd/);
  });

  it('ignore the credentials rule while the dispatcher does not serve the board', () => {
    assert.equal(dispatcher({ BULL_BOARD_ADDR: '0.0.0.0' }).bull_board.enable, false);
  });

  it('reject a user name with ":" and a base path not starting with "/"', () => {
    const error = configError(() => dispatcher({ BULL_BOARD_USERNAME: 'a:b', BULL_BOARD_PASSWORD: 'x', BULL_BOARD_BASE_PATH: 'board' }));
    assert.deepEqual(variables(error), ['BULL_BOARD_BASE_PATH', 'BULL_BOARD_USERNAME']);
  });

  it('apply the credentials rule to the board-only process whatever BULL_BOARD_ENABLE says', () => {
    assert.deepEqual(variables(configError(() => board({ BULL_BOARD_ADDR: '0.0.0.0' }))), ['BULL_BOARD_PASSWORD', 'BULL_BOARD_USERNAME']);
    const config = board({ BULL_BOARD_ADDR: '0.0.0.0', BULL_BOARD_USERNAME: 'ops', BULL_BOARD_PASSWORD: 'secret' });
    assert.equal(config.bull_board.username, 'ops');
    assert.equal('webhook' in config, false, 'the board-only process needs no webhook settings');
  });

  it('give the board-only process the destinations\' names without their settings or credentials', () => {
    const names = (env: Record<string, string>) =>
      loadBoardConfig({ env: { CONNECTOR_ID: 'connector-1', CONNECTOR_NAME: 'Webhook', ...env }, file: empty }).destinations.map(({ name }) => name);
    assert.deepEqual(names({}), ['default'], 'no destination listed: the WEBHOOK_* one');
    assert.deepEqual(names({ DESTINATIONS: 'siem,chat-ops' }), ['siem', 'chat-ops'], 'no WEBHOOK_URL: only the listed ones');
    // The dispatchers would refuse DESTINATION_SIEM_* incomplete; the board does not read them.
    assert.deepEqual(names({ DESTINATIONS: 'siem chat-ops', WEBHOOK_URL: 'https://hooks.example/a' }), ['default', 'siem', 'chat-ops']);
    const config = loadBoardConfig({ env: { CONNECTOR_ID: 'connector-1', CONNECTOR_NAME: 'Webhook', DESTINATIONS: 'siem', DESTINATION_SIEM_URL: 'https://user:pw@siem.example/x' }, file: empty });
    assert.deepEqual(config.destinations[0]?.settings, {}, 'no destination setting is read');
  });

  it('refuse an invalid DESTINATIONS list in the board-only process as the dispatchers do', () => {
    assert.deepEqual(variables(configError(() => loadBoardConfig({ env: { CONNECTOR_ID: 'connector-1', CONNECTOR_NAME: 'Webhook', DESTINATIONS: 'Bad_Name' }, file: empty }))), ['DESTINATIONS']);
  });
});
