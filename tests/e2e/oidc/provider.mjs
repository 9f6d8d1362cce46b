// A real OpenID Connect provider (panva's oidc-provider, pinned in package-lock.json) on 127.0.0.1 for the
// console's single sign-on browser tests (tests/e2e/console/test_sso_browser.py).
//
//   node provider.mjs <config.json>
//
// config.json: {"port": 0, "clients": [{client_id, client_secret, redirect_uris}], "accounts": {login: claims}}.
// Prints one JSON line {"issuer": ...} once it listens. Its own development sign-in page takes any login that
// is a key of "accounts" (any password). POST /__test/mode {"wrong_audience": "<client id>" | null} makes the
// provider issue the ID tokens of every client to that other client instead (a misbehaving provider), so the
// console's audience check is exercised against a token with a real signature.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const mode = { wrongAudience: null };

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' };

const server = createServer();
await new Promise((resolve) => server.listen(config.port || 0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    ...c,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys: [jwk] },
  cookies: { keys: ['regiongate-test-cookie-key'] },
  pkce: { required: () => true },
  conformIdTokenClaims: false, // the console reads the claims from the ID token (no userinfo call)
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['groups', 'name'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const claims = config.accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
});

const issue = provider.IdToken.prototype.issue;
provider.IdToken.prototype.issue = async function issueMaybeForAnotherClient(options) {
  if (mode.wrongAudience && this.client && this.client.clientId !== mode.wrongAudience) {
    this.client = await provider.Client.find(mode.wrongAudience);
  }
  return issue.call(this, options);
};

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url === '/__test/mode' && req.method === 'POST') {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      mode.wrongAudience = JSON.parse(body).wrong_audience || null;
      res.writeHead(204).end();
    });
    return;
  }
  callback(req, res);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
console.log(JSON.stringify({ issuer }));
