/**
 * The destinations' configuration (shared/config/destinations.ts, read by
 * dispatcher/config.ts and ingester/config.ts): DESTINATIONS, each
 * destination's DESTINATION_<NAME>_<KEY> variables and config.yml's
 * `destinations:` map, which destinations exist, and messages that name the
 * destination's own variables without quoting its secrets.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadDispatcherConfig } from '../../dispatcher/config.js';
import { loadIngesterConfig } from '../../ingester/config.js';
import { configError, DISPATCHER_ENV, INGESTER_ENV, tempDir, variables } from './config-helpers.js';

const files = tempDir();
const empty = files.write('empty.yml', '');
after(() => files.cleanup());

type Env = Record<string, string | undefined>;
/** The dispatcher's least settings, without the default destination's WEBHOOK_URL. */
const BASE: Env = { ...DISPATCHER_ENV, WEBHOOK_URL: undefined };

const dispatcher = (env: Env, file = empty) => loadDispatcherConfig({ env: { ...BASE, ...env }, file });
const ingester = (env: Env, file = empty) => loadIngesterConfig({ env: { ...INGESTER_ENV, ...env }, file });
const names = (config: { destinations: ReadonlyArray<{ name: string }> }) => config.destinations.map(({ name }) => name);
const destination = (config: ReturnType<typeof loadDispatcherConfig>, name: string) => {
  const found = config.destinations.find((candidate) => candidate.name === name);
  assert.ok(found, `destination ${name}`);
  return found;
};

describe('DESTINATIONS', () => {
  it('lists names separated by commas and/or spaces, in order', () => {
    const config = dispatcher({ DESTINATIONS: ' soar, team-chat  splunk2,', DESTINATION_SOAR_URL: 'https://a.example/x', DESTINATION_TEAM_CHAT_URL: 'https://b.example/x', DESTINATION_SPLUNK2_URL: 'https://c.example/x' });
    assert.deepEqual(names(config), ['soar', 'team-chat', 'splunk2']);
  });

  it('refuses invalid names, `default` and duplicates, in one problem on DESTINATIONS', () => {
    const error = configError(() => dispatcher({ DESTINATIONS: 'Soar,-chat,chat-,a_b,default,ok,ok,' + 'x'.repeat(33), DESTINATION_OK_URL: 'https://a.example/x' }));
    assert.deepEqual(variables(error), ['DESTINATIONS']);
    const message = error.problems[0]!.message;
    for (const bad of ['"Soar"', '"-chat"', '"chat-"', '"a_b"', `"${'x'.repeat(33)}"`]) assert.ok(message.includes(`${bad} is not a valid name`), `${bad} in ${message}`);
    assert.match(message, /"default" is the name of the WEBHOOK_\* destination/);
    assert.match(message, /"ok" is listed twice/);
  });

  it('refuses two names that would read the same variable (x reads DESTINATION_X_AUTH_TYPE as AUTH_TYPE, x-auth as TYPE)', () => {
    const env = { DESTINATIONS: 'x,x-auth', DESTINATION_X_URL: 'https://x.example/a', DESTINATION_X_AUTH_URL: 'https://x.example/b', DESTINATION_X_AUTH_TYPE: 'BEARER', DESTINATION_X_TOKEN: 't' };
    const error = configError(() => dispatcher(env));
    assert.ok(variables(error).includes('DESTINATIONS'));
    assert.match(error.message, /"x" and "x-auth" would both read DESTINATION_X_AUTH_TYPE/);
    assert.deepEqual(names(dispatcher({ ...env, DESTINATIONS: 'x,x-auth2', DESTINATION_X_AUTH2_URL: 'https://x.example/b' })), ['x', 'x-auth2']);
  });

  it('accepts a 32-character name', () => {
    const name = 'a'.repeat(32);
    assert.deepEqual(names(dispatcher({ DESTINATIONS: name, [`DESTINATION_${name.toUpperCase()}_URL`]: 'https://a.example/x' })), [name]);
  });
});

describe('DESTINATION_<NAME>_<KEY>', () => {
  it('upper-cases the name and turns "-" into "_"', () => {
    const config = dispatcher({
      DESTINATIONS: 'team-chat',
      DESTINATION_TEAM_CHAT_URL: 'https://chat.example/hook',
      DESTINATION_TEAM_CHAT_EVENT_TYPES: 'create',
      // The spelling with "-" is not read.
      'DESTINATION_TEAM-CHAT_RATE_LIMIT_PER_SECOND': '5',
    });
    const chat = destination(config, 'team-chat');
    assert.equal(chat.variablePrefix, 'DESTINATION_TEAM_CHAT_');
    assert.equal(chat.settings.url, 'https://chat.example/hook');
    assert.deepEqual(chat.settings.event_types, ['create']);
    assert.equal(chat.settings.rate_limit_per_second, undefined);
  });

  it('does not inherit WEBHOOK_* values: credentials, filters and retries are the destination\'s own', () => {
    const config = dispatcher({
      WEBHOOK_URL: 'https://default.example/hook',
      WEBHOOK_AUTH_TYPE: 'BEARER',
      WEBHOOK_TOKEN: 'default-secret-token',
      WEBHOOK_SIGNING_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}`,
      WEBHOOK_EVENT_TYPES: 'create',
      WEBHOOK_MARKINGS_EXCLUDE: 'TLP:RED',
      WEBHOOK_RETRY_ATTEMPTS: '3',
      WEBHOOK_FORMAT: 'cloudevents',
      OPENCTI_URL: 'https://opencti.example',
      CONNECTOR_LIVE_STREAM_ID: 'live',
      DESTINATIONS: 'x',
      DESTINATION_X_URL: 'https://x.example/hook',
    });
    assert.deepEqual(names(config), ['default', 'x']);
    const x = destination(config, 'x').settings;
    assert.equal(x.auth_type, 'NONE');
    assert.equal(x.token, undefined);
    assert.equal(x.signing_secret, undefined);
    assert.equal(x.event_types, undefined);
    assert.equal(x.markings_exclude, undefined);
    assert.equal(x.retry_attempts, 15);
    assert.equal(x.format, 'raw');
    assert.equal(destination(config, 'default').settings.token, 'default-secret-token');
  });

  it('reads CONSUMER_COUNT per destination; unset is left to CONNECTOR_CONSUMER_COUNT', () => {
    const config = dispatcher({ DESTINATIONS: 'a,b', DESTINATION_A_URL: 'https://a.example/x', DESTINATION_B_URL: 'https://b.example/x', DESTINATION_A_CONSUMER_COUNT: '3', CONNECTOR_CONSUMER_COUNT: '7' });
    assert.equal(destination(config, 'a').settings.consumer_count, 3);
    assert.equal(destination(config, 'b').settings.consumer_count, undefined);
    assert.equal(config.connector.consumer_count, 7);
    assert.deepEqual(variables(configError(() => dispatcher({ DESTINATIONS: 'a', DESTINATION_A_URL: 'https://a.example/x', DESTINATION_A_CONSUMER_COUNT: '0' }))), ['DESTINATION_A_CONSUMER_COUNT']);
  });
});

describe('the default destination', () => {
  it('exists when WEBHOOK_URL is set, or when no other destination is listed', () => {
    assert.deepEqual(names(dispatcher({ WEBHOOK_URL: 'https://default.example/hook' })), ['default']);
    assert.deepEqual(names(dispatcher({ DESTINATIONS: 'a', DESTINATION_A_URL: 'https://a.example/x' })), ['a']);
    assert.deepEqual(names(dispatcher({ WEBHOOK_URL: 'https://default.example/hook', DESTINATIONS: 'a', DESTINATION_A_URL: 'https://a.example/x' })), ['default', 'a']);
  });

  it("exists when config.yml's webhook.url is set", () => {
    const file = files.write('webhook.yml', ['webhook:', '  url: https://default.example/hook', 'destinations:', '  a:', '    url: https://a.example/x'].join('\n'));
    assert.deepEqual(names(dispatcher({}, file)), ['default', 'a']);
  });

  it('requires WEBHOOK_URL when nothing is listed', () => {
    assert.deepEqual(variables(configError(() => dispatcher({}))), ['WEBHOOK_URL']);
  });

  it('is not created by other WEBHOOK_* settings alone', () => {
    const config = dispatcher({ WEBHOOK_AUTH_TYPE: 'BEARER', DESTINATIONS: 'a', DESTINATION_A_URL: 'https://a.example/x' });
    assert.deepEqual(names(config), ['a']);
  });
});

describe('config.yml destinations:', () => {
  it('maps names to settings; the environment wins key by key', () => {
    const file = files.write(
      'map.yml',
      ['destinations:', '  teams:', '    url: https://teams.example/hook', '    event_types: [create, delete]', '    retry_attempts: 4', '  splunk:', '    url: https://splunk.example/hec'].join('\n'),
    );
    const config = dispatcher({ DESTINATION_TEAMS_RETRY_ATTEMPTS: '9' }, file);
    assert.deepEqual(names(config), ['teams', 'splunk']);
    const teams = destination(config, 'teams').settings;
    assert.equal(teams.url, 'https://teams.example/hook');
    assert.deepEqual(teams.event_types, ['create', 'delete']);
    assert.equal(teams.retry_attempts, 9);
  });

  it('gives way to DESTINATIONS for the list of names', () => {
    const file = files.write('listed.yml', ['destinations:', '  teams:', '    url: https://teams.example/hook', '  splunk:', '    url: https://splunk.example/hec'].join('\n'));
    assert.deepEqual(names(dispatcher({ DESTINATIONS: 'splunk' }, file)), ['splunk']);
    // A name only the environment lists reads its settings from the environment.
    assert.deepEqual(names(dispatcher({ DESTINATIONS: 'splunk,extra', DESTINATION_EXTRA_URL: 'https://extra.example/x' }, file)), ['splunk', 'extra']);
  });

  it('names the file key and the variable of a bad value', () => {
    const file = files.write('bad-url.yml', ['destinations:', '  teams:', '    url: not a url'].join('\n'));
    const error = configError(() => dispatcher({}, file));
    assert.deepEqual(variables(error), ['DESTINATION_TEAMS_URL']);
    assert.equal(error.problems[0]!.key, 'destinations.teams.url');
  });

  it('must be a mapping', () => {
    for (const [name, text] of [['list.yml', 'destinations:\n  - teams\n  - splunk\n'], ['text.yml', 'destinations: teams\n']] as const) {
      const error = configError(() => dispatcher({ WEBHOOK_URL: 'https://default.example/hook' }, files.write(name, text)));
      assert.deepEqual(variables(error), ['DESTINATIONS'], name);
      assert.match(error.message, /must be a mapping/);
    }
  });

  it('holds invalid names as it holds listed ones', () => {
    const file = files.write('bad-name.yml', ['destinations:', '  Teams:', '    url: https://teams.example/hook'].join('\n'));
    assert.deepEqual(variables(configError(() => dispatcher({ WEBHOOK_URL: 'https://default.example/hook' }, file))), ['DESTINATIONS']);
  });
});

describe('problems of destinations', () => {
  it("name the destination's own variables in cross-field checks", () => {
    const error = configError(() => dispatcher({ DESTINATIONS: 'team-chat', DESTINATION_TEAM_CHAT_URL: 'https://chat.example/x', DESTINATION_TEAM_CHAT_AUTH_TYPE: 'TOKEN', DESTINATION_TEAM_CHAT_TOKEN: 't0ken-value' }));
    assert.deepEqual(variables(error), ['DESTINATION_TEAM_CHAT_HEADER']);
    assert.match(error.message, /DESTINATION_TEAM_CHAT_HEADER \(destinations\.team-chat\.header\) is required when DESTINATION_TEAM_CHAT_AUTH_TYPE=TOKEN/);
    assert.doesNotMatch(error.message, /WEBHOOK_/);
    assert.doesNotMatch(error.message, /t0ken-value/);
  });

  it('of several destinations come in one ConfigError, with the default destination\'s', () => {
    const error = configError(() =>
      dispatcher({
        WEBHOOK_URL: 'https://default.example/hook',
        WEBHOOK_RETRY_ATTEMPTS: '0',
        DESTINATIONS: 'a,b,c',
        DESTINATION_A_URL: 'ftp://a.example/x',
        DESTINATION_B_URL: 'https://b.example/x',
        DESTINATION_B_AUTH_TYPE: 'BASIC',
        DESTINATION_B_USERNAME: 'user',
        // C has no URL.
        DESTINATION_C_EVENT_TYPES: 'create',
      }),
    );
    assert.deepEqual(variables(error), ['DESTINATION_A_URL', 'DESTINATION_B_PASSWORD', 'DESTINATION_C_URL', 'WEBHOOK_RETRY_ATTEMPTS']);
  });

  it('never echo a secret', () => {
    const secrets = {
      DESTINATION_S_TOKEN: 'tok\u0001en-s3cret',
      DESTINATION_S_PASSWORD: 'pass\u0002w0rd-s3cret',
      DESTINATION_S_SIGNING_SECRET: 'whsec_not-base64-s3cret!',
      DESTINATION_S_EXTRA_HEADERS: '{"x-api-key": "k\u0003ey-s3cret"}',
    };
    const error = configError(() => dispatcher({ DESTINATIONS: 's', DESTINATION_S_URL: 'https://s.example/x', DESTINATION_S_AUTH_TYPE: 'BASIC', DESTINATION_S_USERNAME: 'u', ...secrets }));
    assert.deepEqual(variables(error), Object.keys(secrets).sort());
    assert.doesNotMatch(error.message, /s3cret/);
  });
});

describe('DISPATCHER_DESTINATIONS', () => {
  const env: Env = { WEBHOOK_URL: 'https://default.example/hook', DESTINATIONS: 'a,b', DESTINATION_A_URL: 'https://a.example/x', DESTINATION_B_URL: 'https://b.example/x' };

  it('takes configured names, `default` included', () => {
    assert.deepEqual(dispatcher({ ...env, DISPATCHER_DESTINATIONS: 'b, default' }).dispatcher.destinations, ['b', 'default']);
  });

  it('refuses a name that is not configured, saying which ones are', () => {
    const error = configError(() => dispatcher({ ...env, DISPATCHER_DESTINATIONS: 'a,c' }));
    assert.deepEqual(variables(error), ['DISPATCHER_DESTINATIONS']);
    assert.match(error.message, /not configured: c \(configured: default, a, b\)/);
  });
});

describe('FORMAT on the dispatcher', () => {
  for (const format of ['cloudevents', 'slack', 'teams', 'splunk-hec']) {
    it(`${format} needs OPENCTI_URL, naming the destination's variable`, () => {
      const error = configError(() => dispatcher({ DESTINATIONS: 'x', DESTINATION_X_URL: 'https://x.example/hook', DESTINATION_X_FORMAT: format, CONNECTOR_LIVE_STREAM_ID: 'live' }));
      assert.deepEqual(variables(error), ['OPENCTI_URL']);
      assert.match(error.message, /OPENCTI_URL \(opencti\.url\) is required by DESTINATION_X_FORMAT/);
      const config = dispatcher({ DESTINATIONS: 'x', DESTINATION_X_URL: 'https://x.example/hook', DESTINATION_X_FORMAT: format, CONNECTOR_LIVE_STREAM_ID: 'live', OPENCTI_URL: 'https://opencti.example' });
      assert.equal(destination(config, 'x').settings.format, format);
    });
  }

  it('raw and template need neither OPENCTI_URL nor the stream id', () => {
    const config = dispatcher({ DESTINATIONS: 'r,t', DESTINATION_R_URL: 'https://r.example/x', DESTINATION_T_URL: 'https://t.example/x', DESTINATION_T_FORMAT: 'template', DESTINATION_T_TEMPLATE: '{"id": data.id}' });
    assert.deepEqual(names(config), ['r', 't']);
  });

  it('cloudevents and splunk-hec also need CONNECTOR_LIVE_STREAM_ID, every user named', () => {
    const error = configError(() =>
      dispatcher({
        WEBHOOK_URL: 'https://default.example/hook',
        WEBHOOK_FORMAT: 'splunk-hec',
        DESTINATIONS: 'ce',
        DESTINATION_CE_URL: 'https://ce.example/x',
        DESTINATION_CE_FORMAT: 'cloudevents',
        OPENCTI_URL: 'https://opencti.example',
      }),
    );
    assert.deepEqual(variables(error), ['CONNECTOR_LIVE_STREAM_ID']);
    assert.match(error.message, /WEBHOOK_FORMAT, DESTINATION_CE_FORMAT/);
  });
});

describe('TEMPLATE and FILTER', () => {
  const template = (env: Env) => dispatcher({ DESTINATIONS: 't', DESTINATION_T_URL: 'https://t.example/x', DESTINATION_T_FORMAT: 'template', ...env });

  it('reads TEMPLATE inline or from @file', () => {
    assert.equal(destination(template({ DESTINATION_T_TEMPLATE: '{"id": data.id}' }), 't').settings.template, '{"id": data.id}');
    const path = files.write('template.jsonata', '{\n  "name": data.name\n}\n');
    assert.equal(destination(template({ DESTINATION_T_TEMPLATE: `@${path}` }), 't').settings.template, '{\n  "name": data.name\n}\n');
  });

  it('refuses a missing @file, naming the path and the variable', () => {
    const path = `${files.dir}/missing.jsonata`;
    const error = configError(() => template({ DESTINATION_T_TEMPLATE: `@${path}` }));
    assert.deepEqual(variables(error), ['DESTINATION_T_TEMPLATE']);
    assert.ok(error.message.includes(`cannot be read: ${JSON.stringify(path)} (ENOENT)`), error.message);
  });

  it('refuses invalid JSONata with its position', () => {
    const error = configError(() => template({ DESTINATION_T_TEMPLATE: '{"id": data.id' }));
    assert.deepEqual(variables(error), ['DESTINATION_T_TEMPLATE']);
    assert.match(error.message, /DESTINATION_T_TEMPLATE \(destinations\.t\.template\) is not a valid JSONata expression at position \d+ \(S0\d+/);
  });

  it('requires TEMPLATE with FORMAT=template and refuses it with any other FORMAT', () => {
    assert.match(configError(() => template({})).message, /DESTINATION_T_TEMPLATE .*is required when DESTINATION_T_FORMAT=template/);
    const error = configError(() => dispatcher({ DESTINATIONS: 't', DESTINATION_T_URL: 'https://t.example/x', DESTINATION_T_TEMPLATE: '{"id": data.id}' }));
    assert.deepEqual(variables(error), ['DESTINATION_T_TEMPLATE']);
    assert.match(error.message, /is only read when DESTINATION_T_FORMAT=template/);
  });

  it('refuses an invalid FILTER on the dispatcher and on the ingester', () => {
    const env = { DESTINATIONS: 'f', DESTINATION_F_URL: 'https://f.example/x', DESTINATION_F_FILTER: "data.type = 'indicator' and (" };
    for (const load of [() => dispatcher(env), () => ingester(env)]) {
      const error = configError(load);
      assert.deepEqual(variables(error), ['DESTINATION_F_FILTER']);
      assert.match(error.message, /is not a valid JSONata expression at position \d+/);
    }
    assert.equal(destination(dispatcher({ ...env, DESTINATION_F_FILTER: "data.type = 'indicator'" }), 'f').settings.filter, "data.type = 'indicator'");
  });
});

describe('the ingester', () => {
  it('reads only the routing settings: no URL or credentials needed for a named destination', () => {
    const config = ingester({
      DESTINATIONS: 'teams,soar',
      DESTINATION_TEAMS_MARKINGS_EXCLUDE: 'TLP:RED',
      DESTINATION_TEAMS_EVENT_TYPES: 'create',
      DESTINATION_TEAMS_ORDERING: 'entity',
      // Settings the ingester does not read may be anything, even invalid.
      DESTINATION_TEAMS_AUTH_TYPE: 'TOKEN',
      DESTINATION_SOAR_URL: 'not a url',
      DESTINATION_SOAR_FILTER: "data.type = 'indicator'",
    });
    assert.deepEqual(names(config), ['teams', 'soar']);
    const [teams, soar] = config.destinations;
    assert.deepEqual(teams!.settings, { event_types: ['create'], markings_exclude: ['tlp:red'], ordering: 'entity' });
    assert.deepEqual(soar!.settings, { filter: "data.type = 'indicator'", ordering: 'none' });
  });

  it('has the default destination without WEBHOOK_URL when nothing is listed, and with it otherwise', () => {
    assert.deepEqual(names(ingester({})), ['default']);
    assert.deepEqual(names(ingester({ DESTINATIONS: 'a' })), ['a']);
    assert.deepEqual(names(ingester({ DESTINATIONS: 'a', WEBHOOK_URL: 'https://default.example/hook' })), ['default', 'a']);
  });

  it("refuses a routing setting naming the destination's variable", () => {
    const error = configError(() => ingester({ DESTINATIONS: 'a,b', DESTINATION_A_EVENT_TYPES: 'created', DESTINATION_B_MARKINGS_EXCLUDE: 'red' }));
    assert.deepEqual(variables(error), ['DESTINATION_A_EVENT_TYPES', 'DESTINATION_B_MARKINGS_EXCLUDE']);
  });
});

describe('webhook URLs in messages', () => {
  it('are shown redacted: a Slack or Teams URL is the credential itself', () => {
    const token = 'XXXXXXXXXXXXXXXXXXXXXXXX';
    const error = configError(() => dispatcher({ DESTINATIONS: 'slack', DESTINATION_SLACK_URL: `ftp://hooks.slack.com/services/T0000/B0000/${token}?sig=abc` }));
    assert.deepEqual(variables(error), ['DESTINATION_SLACK_URL']);
    assert.doesNotMatch(error.message, new RegExp(`${token}|sig=abc`));
    assert.match(error.message, /got "ftp:\/\/hooks\.slack\.com\/services\/T0000\/B0000\/…"/);
  });
});
