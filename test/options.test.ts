import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { checkRegistrationPsk, networksInclude, registrationGroupFor } from '../core/options.service';
import { startTestServer, type TestServer } from './support/server';

const OPTIONS = `{ options {
  serverUrl forceIpVersion networkTimeoutSeconds heartbeatSeconds hostOfflineAfterSeconds includePskEnv anonymousCheckinNetworks
  registration { enabled pskSet defaultGroup { id name } rules { property pattern group { id name } } }
  globalEnvironment { key value secret displayValue }
} }`;
const UPDATE = `mutation($input: UpdateOptionsInput!) {
  updateOptions(input: $input) {
    __typename
    ... on UpdateOptionsSuccess { data {
      serverUrl forceIpVersion networkTimeoutSeconds heartbeatSeconds hostOfflineAfterSeconds includePskEnv anonymousCheckinNetworks
      registration { enabled pskSet defaultGroup { name } rules { property pattern group { name } } }
      globalEnvironment { key value secret }
    } }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;
const EVENTS = `{ events(filter: { actions: ["options.updated"] }) { totalCount edges { node { actorName objectType summary details } } } }`;

describe('server options', () => {
  let server: TestServer;
  let admin: string;
  let operator: string;
  let viewer: string;
  let linux: string;
  let web: string;

  const update = (input: Record<string, unknown>, cookie = admin) => server.gql(UPDATE, { input }, { cookie });
  const read = async (cookie = admin) => (await server.gql(OPTIONS, {}, { cookie })).data.options;
  const eventCount = async () => (await server.gql(EVENTS, {}, { cookie: admin })).data.events.totalCount as number;
  const optionsRow = () => server.app.db.selectFrom('options').selectAll().executeTakeFirstOrThrow();

  beforeAll(async () => {
    server = await startTestServer();
    admin = server.adminCookie;
    await server.createUser('opt-operator', 'operator');
    await server.createUser('opt-viewer', 'viewer');
    operator = await server.signIn('opt-operator', 'opt-operator-password-123');
    viewer = await server.signIn('opt-viewer', 'opt-viewer-password-123');
    // Groups come straight from the database: this file tests options, not group management.
    const groups = await server.app.db.insertInto('groups').values([{ name: 'linux' }, { name: 'web' }]).returning(['id', 'name']).execute();
    linux = groups.find((g) => g.name === 'linux')!.id;
    web = groups.find((g) => g.name === 'web')!.id;
  });
  afterAll(() => server?.close());

  it('shows the defaults to a viewer', async () => {
    expect(await read(viewer)).toEqual({
      serverUrl: null,
      forceIpVersion: null,
      networkTimeoutSeconds: 30,
      heartbeatSeconds: 30,
      hostOfflineAfterSeconds: 60,
      includePskEnv: false,
      anonymousCheckinNetworks: [],
      registration: { enabled: false, pskSet: false, defaultGroup: null, rules: [] },
      globalEnvironment: [],
    });
    // There is no field that could return the key.
    const psk = await server.gql(`{ options { registration { psk } } }`, {}, { cookie: viewer });
    expect(psk.errors?.[0]?.message).toMatch(/Cannot query field "psk"/);
  });

  it('lets an admin change everything, and refuses an operator', async () => {
    const refused = await update({ serverUrl: 'https://operator.example.com' }, operator);
    expect(refused.status).toBe(403);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await optionsRow()).server_url).toBeNull();

    const result = await update({
      serverUrl: 'https://runboard.example.com:8443/',
      forceIpVersion: 6,
      networkTimeoutSeconds: 10,
      heartbeatSeconds: 15,
      hostOfflineAfterSeconds: 45,
      includePskEnv: true,
      anonymousCheckinNetworks: ['10.0.0.0/8', ' FD00::/8 ', '192.168.1.7'],
      registration: {
        enabled: true,
        psk: 'register-me-please',
        defaultGroupId: encodeGlobalID('Group', web),
        rules: [
          { property: 'UNAME', pattern: 'Linux.*x86_64', groupId: encodeGlobalID('Group', linux) },
          { property: 'HOSTNAME', pattern: '^web-\\d+$', groupId: web },
        ],
      },
      globalEnvironment: [
        { key: 'REGION', value: 'eu-west' },
        { key: 'DB_PASSWORD', value: 'hunter2-global-secret', secret: true },
      ],
    });
    expect(result.data.updateOptions).toEqual({
      __typename: 'UpdateOptionsSuccess',
      data: {
        serverUrl: 'https://runboard.example.com:8443/',
        forceIpVersion: 6,
        networkTimeoutSeconds: 10,
        heartbeatSeconds: 15,
        hostOfflineAfterSeconds: 45,
        includePskEnv: true,
        anonymousCheckinNetworks: ['10.0.0.0/8', 'fd00::/8', '192.168.1.7/32'],
        registration: {
          enabled: true,
          pskSet: true,
          defaultGroup: { name: 'web' },
          rules: [
            { property: 'UNAME', pattern: 'Linux.*x86_64', group: { name: 'linux' } },
            { property: 'HOSTNAME', pattern: '^web-\\d+$', group: { name: 'web' } },
          ],
        },
        globalEnvironment: [
          { key: 'REGION', value: 'eu-west', secret: false },
          { key: 'DB_PASSWORD', value: null, secret: true },
        ],
      },
    });

    // A viewer sees the same settings (nested groups loaded by id), but no key and no secret value.
    const seen = await server.gql(OPTIONS, {}, { cookie: viewer });
    expect(seen.data.options.registration.defaultGroup).toEqual({ id: encodeGlobalID('Group', web), name: 'web' });
    expect(seen.data.options.registration.rules.map((r: { group: { name: string } }) => r.group.name)).toEqual(['linux', 'web']);
    expect(seen.data.options.globalEnvironment[1]).toEqual({ key: 'DB_PASSWORD', value: null, secret: true, displayValue: '••••••••' });
    const text = JSON.stringify(seen);
    expect(text).not.toContain('register-me-please');
    expect(text).not.toContain('hunter2');
  });

  it('changes only the fields given', async () => {
    const result = await update({ heartbeatSeconds: 20, registration: { enabled: true } });
    const data = result.data.updateOptions.data;
    expect(data).toMatchObject({ heartbeatSeconds: 20, networkTimeoutSeconds: 10, serverUrl: 'https://runboard.example.com:8443/', forceIpVersion: 6 });
    expect(data.registration).toMatchObject({ enabled: true, pskSet: true, defaultGroup: { name: 'web' } });
    expect(data.registration.rules).toHaveLength(2);
    expect(data.globalEnvironment.map((v: { key: string }) => v.key)).toEqual(['REGION', 'DB_PASSWORD']);
    expect(await checkRegistrationPsk(server.app.db, server.app.secrets, 'register-me-please')).toBe(true);
  });

  it('stores the registration key sealed and checks it', async () => {
    const row = await optionsRow();
    expect(row.register_psk_encrypted).toBeInstanceOf(Buffer);
    expect(row.register_psk_encrypted!.toString('latin1')).not.toContain('register-me-please');
    expect(server.app.secrets.open(row.register_psk_encrypted!)).toBe('register-me-please');
    expect(await checkRegistrationPsk(server.app.db, server.app.secrets, 'register-me-please')).toBe(true);
    expect(await checkRegistrationPsk(server.app.db, server.app.secrets, 'register-me-pleasf')).toBe(false);
    expect(await checkRegistrationPsk(server.app.db, server.app.secrets, '')).toBe(false);

    // A new key replaces it.
    await update({ registration: { psk: 'second-key' } });
    expect(await checkRegistrationPsk(server.app.db, server.app.secrets, 'register-me-please')).toBe(false);
    expect(await checkRegistrationPsk(server.app.db, server.app.secrets, 'second-key')).toBe(true);
  });

  it('picks the group of the first matching rule, else the default', async () => {
    const groupFor = (uname: string, hostname: string) => registrationGroupFor(server.app.db, { uname, hostname });
    expect(await groupFor('Linux box 6.1.0 x86_64 GNU/Linux', 'web-1')).toBe(linux);
    expect(await groupFor('Darwin mac 23.0 arm64', 'web-12')).toBe(web);
    expect(await groupFor('Darwin mac 23.0 arm64', 'db-1')).toBe(web);
    await update({ registration: { defaultGroupId: null, rules: [{ property: 'HOSTNAME', pattern: '^db-', groupId: linux }] } });
    expect(await groupFor('Linux box x86_64', 'web-1')).toBeNull();
    expect(await groupFor('Linux box x86_64', 'db-1')).toBe(linux);
  });

  it('stores global secrets encrypted and keeps one re-sent without a value', async () => {
    const sealed = async () =>
      server.app.db.selectFrom('env_vars').selectAll().where('key', '=', 'DB_PASSWORD').where('script_id', 'is', null).where('group_id', 'is', null).where('host_id', 'is', null).executeTakeFirstOrThrow();
    const before = await sealed();
    expect(before.value).toBeNull();
    expect(before.value_encrypted!.toString('latin1')).not.toContain('hunter2');
    expect(server.app.secrets.open(before.value_encrypted!)).toBe('hunter2-global-secret');

    const kept = await update({ globalEnvironment: [{ key: 'DB_PASSWORD', secret: true }, { key: 'REGION', value: 'us-east' }] });
    expect(kept.data.updateOptions.data.globalEnvironment).toEqual([
      { key: 'DB_PASSWORD', value: null, secret: true },
      { key: 'REGION', value: 'us-east', secret: false },
    ]);
    expect(server.app.secrets.open((await sealed()).value_encrypted!)).toBe('hunter2-global-secret');

    const missing = await update({ globalEnvironment: [{ key: 'NEW_SECRET', secret: true }] });
    expect(missing.data.updateOptions).toMatchObject({ __typename: 'ValidationError', message: 'NEW_SECRET: a new secret needs a value.' });
    expect((await read()).globalEnvironment.map((v: { key: string }) => v.key)).toEqual(['DB_PASSWORD', 'REGION']);
  });

  it('audits every change without the key or any secret value', async () => {
    const { data } = await server.gql(EVENTS, {}, { cookie: admin });
    const events = data.events.edges.map((e: { node: unknown }) => e.node);
    expect(events.length).toBeGreaterThanOrEqual(5);
    const first = events.at(-1);
    expect(first).toMatchObject({ actorName: 'admin', objectType: 'Options' });
    expect(first.summary).toMatch(/^Updated server options: serverUrl, forceIpVersion/);
    expect(first.details.before).toMatchObject({ serverUrl: null, registrationEnabled: false, registrationPskSet: false, globalEnvironment: [] });
    expect(first.details.after).toMatchObject({
      serverUrl: 'https://runboard.example.com:8443/',
      registrationEnabled: true,
      registrationPskSet: true,
      registrationDefaultGroupId: web,
      globalEnvironment: ['REGION', 'DB_PASSWORD (secret)'],
    });
    expect(first.details.secretValuesSet).toEqual(['DB_PASSWORD']);
    // The key replacement is recorded as a fact, not a value.
    expect(events.some((e: { details: { registrationPskReplaced?: boolean } }) => e.details.registrationPskReplaced)).toBe(true);
    const text = JSON.stringify(events);
    for (const secret of ['register-me-please', 'second-key', 'hunter2']) expect(text).not.toContain(secret);
  });

  describe('refuses bad input with a clear message and writes nothing', () => {
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      ['a URL without protocol', { serverUrl: 'runboard.example.com' }, 'input.serverUrl', /The server URL "runboard.example.com" must be an absolute URL starting with http:\/\/ or https:\/\//],
      ['a URL of another scheme', { serverUrl: 'ftp://files.example.com' }, 'input.serverUrl', /must be an absolute URL starting with http:\/\//],
      ['an IP version other than 4 or 6', { forceIpVersion: 5 }, 'input.forceIpVersion', /The forced IP version is 4, 6, or null/],
      ['a timeout of zero', { networkTimeoutSeconds: 0 }, 'input.networkTimeoutSeconds', /The network timeout must be a whole number of seconds from 1 to 86400/],
      ['an offline delay shorter than the heartbeat', { hostOfflineAfterSeconds: 10 }, 'input.hostOfflineAfterSeconds', /heartbeats must come more often than that \(now every 20 s\)/],
      ['a bad IPv4 network', { anonymousCheckinNetworks: ['10.0.0.0/8', '10.0.0.0/33'] }, 'input.anonymousCheckinNetworks.1', /"10.0.0.0\/33" is not a network/],
      ['a bad IPv6 network', { anonymousCheckinNetworks: ['fd00::zz/8'] }, 'input.anonymousCheckinNetworks.0', /"fd00::zz\/8" is not a network: write an IPv4 or IPv6 address/],
      ['a name instead of a network', { anonymousCheckinNetworks: ['office'] }, 'input.anonymousCheckinNetworks.0', /"office" is not a network/],
      ['a pattern that is not a regex', { registration: { rules: [{ property: 'UNAME', pattern: '(linux', groupId: 'LINUX' }] } }, 'input.registration.rules.0.pattern', /Rule 1: "\(linux" is not a regular expression \(.*\)/],
      ['a pattern too long', { registration: { rules: [{ property: 'UNAME', pattern: 'a'.repeat(501), groupId: 'LINUX' }] } }, 'input.registration.rules.0.pattern', /Rule 1: a pattern is at most 500 characters/],
      ['clearing the key while registration is on', { registration: { psk: '' } }, 'input.registration.psk', /Host registration needs a pre-shared key/],
      ['a key with a NUL', { registration: { psk: 'a\0b' } }, 'input.registration.psk', /cannot contain a NUL character/],
      ['a bad variable name', { globalEnvironment: [{ key: '1BAD', value: 'x' }] }, 'input.globalEnvironment.0.key', /"1BAD" is not a variable name/],
      ['a group id of another type', { registration: { defaultGroupId: encodeGlobalID('Host', '00000000-0000-0000-0000-000000000001') } }, 'input.registration.defaultGroupId', /that id belongs to a Host, not a Group/],
    ];
    for (const [what, raw, path, message] of cases) {
      it(what, async () => {
        const input = JSON.parse(JSON.stringify(raw).replaceAll('"LINUX"', JSON.stringify(linux)));
        const before = await read();
        const events = await eventCount();
        const result = await update(input);
        expect(result.data.updateOptions.__typename).toBe('ValidationError');
        expect(result.data.updateOptions.message).toMatch(message);
        expect(result.data.updateOptions.fields.map((f: { path: string[] }) => f.path.join('.'))).toContain(path);
        expect(await read()).toEqual(before);
        expect(await eventCount()).toBe(events);
      });
    }

    it('an unknown group', async () => {
      const before = await read();
      const events = await eventCount();
      const missing = '00000000-0000-0000-0000-00000000beef';
      const asDefault = await update({ serverUrl: 'http://changed.example.com', registration: { defaultGroupId: encodeGlobalID('Group', missing) } });
      expect(asDefault.data.updateOptions).toEqual({
        __typename: 'NotFoundError',
        message: `There is no group with id "${missing}" (the default registration group).`,
      });
      const inRule = await update({ registration: { rules: [{ property: 'HOSTNAME', pattern: '.', groupId: linux }, { property: 'HOSTNAME', pattern: '.', groupId: missing }] } });
      expect(inRule.data.updateOptions.message).toBe(`There is no group with id "${missing}" (the group of registration rule 2).`);
      expect(await read()).toEqual(before);
      expect(await eventCount()).toBe(events);
    });
  });

  it('clears what may be cleared', async () => {
    const result = await update({ serverUrl: null, forceIpVersion: null, anonymousCheckinNetworks: [], registration: { enabled: false, psk: '', rules: [] }, globalEnvironment: [] });
    expect(result.data.updateOptions.data).toMatchObject({
      serverUrl: null,
      forceIpVersion: null,
      anonymousCheckinNetworks: [],
      registration: { enabled: false, pskSet: false, rules: [] },
      globalEnvironment: [],
    });
    expect((await optionsRow()).register_psk_encrypted).toBeNull();
    expect(await checkRegistrationPsk(server.app.db, server.app.secrets, 'second-key')).toBe(false);
    const enable = await update({ registration: { enabled: true } });
    expect(enable.data.updateOptions.message).toMatch(/Host registration needs a pre-shared key: set registration.psk/);
  });

  it('matches request addresses against the anonymous check-in networks', () => {
    const networks = ['10.0.0.0/8', 'fd00::/8', '192.168.1.7/32'];
    expect(networksInclude(networks, '10.1.2.3')).toBe(true);
    expect(networksInclude(networks, '::ffff:10.1.2.3')).toBe(true);
    expect(networksInclude(networks, 'fd12::1')).toBe(true);
    expect(networksInclude(networks, '192.168.1.7')).toBe(true);
    expect(networksInclude(networks, '192.168.1.8')).toBe(false);
    expect(networksInclude(networks, '2001:db8::1')).toBe(false);
    expect(networksInclude([], '10.1.2.3')).toBe(false);
  });
});
