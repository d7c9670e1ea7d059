// A real OpenID Connect provider for the single sign-on browser test (tests/browser/test_sso.py):
// the npm package oidc-provider (installed into .cache/oidc by scripts/oidc-provider.sh), with its
// development login form (any login name, any password) and the accounts below.
//
//   node tests/browser/oidc_provider.mjs PORT REDIRECT_URI
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', '.cache', 'oidc', 'package.json'));
const { default: Provider } = await import(require.resolve('oidc-provider'));

const [port, redirectUri] = process.argv.slice(2);

// Who can sign in, and the claims the provider gives for them.
const ACCOUNTS = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice', groups: ['deployers', 'admins'] },
  mallory: { email: 'mallory@example.com', email_verified: true, name: 'Mallory', groups: ['contractors'] },
  eve: { email: 'eve@elsewhere.test', email_verified: true, name: 'Eve', groups: ['admins'] },
};

const configuration = {
  clients: [{
    client_id: 'shiplane',
    client_secret: 'shiplane-test-secret',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  cookies: { keys: ['shiplane-test-cookie-key'] },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
};

const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
provider.listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider listening on ${port}`));
