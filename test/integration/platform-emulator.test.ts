/**
 * Self-test of the emulator's GraphQL side (test/helpers/platform-emulator.ts) against
 * /work/shared/reference/opencti-live-stream.md §6, §7, §9 item 11, with plain HTTP
 * requests (no product code).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { PYCTI_CONNECTOR_INFO, pyctiRegisterInput } from '../helpers/platform-emulator.js';
import { StreamEmulator } from '../helpers/stream-emulator.js';

const TOKEN = 'emulator-token';
const REGISTER = 'mutation RegisterConnector($input: RegisterConnectorInput) { registerConnector(input: $input) { id connector_state config { connection { host } } } }';
const PING = 'mutation PingConnector($id: ID!, $state: String, $connectorInfo: ConnectorInfoInput ) { pingConnector(id: $id, state: $state, connectorInfo: $connectorInfo) { id connector_state } }';
const INFO = PYCTI_CONNECTOR_INFO;
const INPUT = pyctiRegisterInput('c-1', 'Webhook', ['webhook']);

describe('emulator: GraphQL API', () => {
  let emulator: StreamEmulator;
  before(async () => {
    emulator = await StreamEmulator.start({ streams: { 'live-stream-1': { live: true }, stopped: { live: false }, open: { live: true, public: true } } });
  });
  after(() => emulator?.close());

  async function graphql(query: string, variables: Record<string, unknown> = {}, token: string | null = TOKEN) {
    const response = await request(`${emulator.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    assert.equal(response.statusCode, 200, 'GraphQL errors come with HTTP 200');
    return (await response.body.json()) as { data: Record<string, Record<string, unknown> | null> | null; errors?: Array<{ name: string; message: string }> };
  }

  it('registers a connector and echoes its stored state with a full config.connection', async () => {
    const first = await graphql(REGISTER, { input: INPUT });
    assert.equal(first.data?.registerConnector?.connector_state, null);
    assert.deepEqual(first.data?.registerConnector?.config, {
      connection: { host: 'rabbitmq', vhost: '/', use_ssl: false, port: 5672, user: 'opencti', pass: 'changeme' },
      listen: 'listen_c-1',
      listen_routing: 'listen_routing_c-1',
      listen_exchange: 'amqp.connector.exchange',
      push: 'push_c-1',
      push_routing: 'push_routing_c-1',
      push_exchange: 'amqp.worker.exchange',
    });
    await graphql(PING, { id: 'c-1', state: '{"start_from": "5-0", "recover_until": false}', connectorInfo: INFO });
    const again = await graphql(REGISTER, { input: { ...INPUT, name: 'Renamed' } });
    assert.equal(again.data?.registerConnector?.connector_state, '{"start_from": "5-0", "recover_until": false}', 'registration keeps the state');
    assert.equal(emulator.platform.connectors.get('c-1')?.name, 'Renamed');
  });

  it('refuses an input field pycti does not send, or a bad connector type', async () => {
    assert.equal((await graphql(REGISTER, { input: { ...INPUT, extra: 1 } })).errors?.[0]?.name, 'BAD_USER_INPUT');
    assert.equal((await graphql(REGISTER, { input: { ...INPUT, type: 'stream' } })).errors?.[0]?.name, 'BAD_USER_INPUT');
    assert.equal((await graphql(PING, { id: 'c-1', state: 'x', connectorInfo: { ...INFO, extra: true } })).errors?.[0]?.name, 'BAD_USER_INPUT');
  });

  it('stores the pinged state verbatim; after a reset answers one ping with "" without storing', async () => {
    const state = '{"start_from": "7-0", "recover_until": "2025-01-01T00:00:00Z"}';
    assert.equal((await graphql(PING, { id: 'c-1', state, connectorInfo: INFO })).data?.pingConnector?.connector_state, state);
    emulator.platform.resetState('c-1');
    assert.equal((await graphql(PING, { id: 'c-1', state, connectorInfo: INFO })).data?.pingConnector?.connector_state, '');
    assert.equal((await graphql(PING, { id: 'c-1', state, connectorInfo: INFO })).data?.pingConnector?.connector_state, state);
    const missing = await graphql(PING, { id: 'nope', state, connectorInfo: INFO });
    assert.deepEqual(missing.errors?.[0], { name: 'FUNCTIONAL_ERROR', message: 'No connector found with the specified ID', extensions: { code: 'FUNCTIONAL_ERROR' } });
  });

  it('describes stream collections; null for an unknown id; public ones without a token', async () => {
    const query = 'query StreamCollection($id: String!) { streamCollection(id: $id) { id name description stream_live stream_public } }';
    assert.equal((await graphql(query, { id: 'stopped' })).data?.streamCollection?.stream_live, false);
    assert.equal((await graphql(query, { id: 'unknown' })).data?.streamCollection, null);
    const list = await graphql('query { streamCollections { edges { node { id } } } }', {}, null);
    assert.deepEqual((list.data?.streamCollections?.edges as Array<{ node: { id: string } }>).map((edge) => edge.node.id), ['open']);
  });

  it('answers a missing or wrong token with AUTH_REQUIRED, and can fail on demand', async () => {
    for (const token of [null, 'wrong']) {
      const answer = await graphql('query healthCheck { about { version } }', {}, token);
      assert.deepEqual(answer.errors?.[0] && [answer.errors[0].name, answer.errors[0].message], ['AUTH_REQUIRED', 'You must be logged in to do this.']);
    }
    assert.deepEqual((await graphql('query { about { version } }')).data?.about, { version: '6.9.17' });
    emulator.platform.failNext(1, 502);
    const failed = await request(`${emulator.url}/graphql`, { method: 'POST', body: '{}' });
    assert.equal(failed.statusCode, 502);
    await failed.body.dump();
    assert.equal(emulator.requests.length, 0, 'GraphQL requests are not mixed with stream requests');
  });
});
