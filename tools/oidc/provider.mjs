// A real OpenID Connect provider on loopback for the single sign-on tests (accounts/tests/oidc_provider.py).
//
// panva's oidc-provider (a certified OpenID Provider), with its development sign-in and consent pages
// ("devInteractions": any known login name, any password). Discovery, authorization code with PKCE,
// the token and userinfo endpoints and signed ID tokens are the library's own.
//
// Configuration: the JSON in OIDC_TEST_CONFIG:
//   {"clients": [{client_id, client_secret, redirect_uris, token_endpoint_auth_method, ...}],
//    "accounts": {"<login name>": {<claims: email, email_verified, preferred_username, name, ...>}}}
// A login name is the account's subject (sub). The server listens on 127.0.0.1 on a port the
// system picks, then prints one line, "listening <issuer URL>", and serves until it is killed.
import http from 'node:http';
import crypto from 'node:crypto';

import { Provider } from 'oidc-provider';

const config = JSON.parse(process.env.OIDC_TEST_CONFIG || '{}');
const accounts = config.accounts || {};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: config.clients || [],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    },
    async findAccount(ctx, sub) {
      if (!Object.hasOwn(accounts, sub)) return undefined;
      return { accountId: sub, async claims() { return { ...accounts[sub], sub }; } };
    },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    features: { devInteractions: { enabled: true } },
  });
  server.on('request', provider.callback());
  console.log(`listening ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
