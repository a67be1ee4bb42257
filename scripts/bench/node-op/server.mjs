// node-oidc-provider 8 set up to do idp-bridge's job, for the side-by-side
// benchmark (scripts/bench/run.sh): one confidential client
// (client_secret_post, RS256 ID tokens, or ES256 with NODE_OP_ALG=ES256,
// PKCE required), a login form posting
// username and password, checked against the same upstream the bridge uses
// (the reference legacy IdP's JSON login API, over HTTP), and userinfo
// answering the profile the upstream returned. Consent is granted for the
// client's scopes without a page, as the bridge does.
//
// Environment: NODE_OP_PORT, NODE_OP_ISSUER, NODE_OP_UPSTREAM (the legacy
// IdP's base URL), NODE_OP_CLIENT_SECRET, NODE_OP_REDIRECT_URI, and
// NODE_OP_ALG (RS256, the default, or ES256: the client's
// id_token_signed_response_alg, signed with an RSA-2048 or a P-256 key).
import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`node-op: ${name} is required`);
    process.exit(2);
  }
  return value;
};
const port = Number(env('NODE_OP_PORT'));
const issuer = env('NODE_OP_ISSUER');
const upstream = env('NODE_OP_UPSTREAM');

// The bridge keeps each user's profile with the grant; node-oidc-provider
// asks findAccount for it, so the profiles the upstream returned live here.
const profiles = new Map();

// node-oidc-provider's own in-memory adapter is an LRU of 1,000 entries
// (codes, sessions, interactions and grants together), which drops codes
// under load; this one keeps every entry until it expires, as a database
// would, swept every 10 s.
const stores = new Map();
const byGrant = new Map();
class MapAdapter {
  constructor(model) {
    this.model = model;
    if (!stores.has(model)) stores.set(model, new Map());
    this.items = stores.get(model);
  }

  async upsert(id, payload, expiresIn) {
    this.items.set(id, { payload, expires: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (payload.grantId) {
      if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, []);
      byGrant.get(payload.grantId).push([this.model, id]);
    }
    if (payload.uid) this.items.set(`uid:${payload.uid}`, { payload: id, expires: Infinity });
  }

  async find(id) {
    const item = this.items.get(id);
    if (!item || item.expires < Date.now()) return undefined;
    return item.payload;
  }

  async findByUid(uid) {
    const id = this.items.get(`uid:${uid}`)?.payload;
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode() { return undefined; }

  async consume(id) {
    const item = this.items.get(id);
    if (item) item.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const item = this.items.get(id);
    if (item?.payload?.uid) this.items.delete(`uid:${item.payload.uid}`);
    this.items.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [model, id] of byGrant.get(grantId) ?? []) stores.get(model)?.delete(id);
    byGrant.delete(grantId);
  }
}
setInterval(() => {
  const now = Date.now();
  for (const items of stores.values()) {
    for (const [id, item] of items) {
      if (item.expires < now) {
        if (item.payload?.uid) items.delete(`uid:${item.payload.uid}`);
        if (item.payload?.grantId) byGrant.delete(item.payload.grantId);
        items.delete(id);
      }
    }
  }
}, 10000).unref();

// One signing key, of the kind the client's algorithm needs: the bridge, too,
// signs an ES256 client's ID tokens with a P-256 key and nothing else.
const alg = process.env.NODE_OP_ALG || 'RS256';
if (alg !== 'RS256' && alg !== 'ES256') {
  console.error(`node-op: NODE_OP_ALG must be RS256 or ES256, not ${alg}`);
  process.exit(2);
}
const { privateKey } = alg === 'ES256'
  ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
  : generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-1', use: 'sig', alg };

const provider = new Provider(issuer, {
  // NODE_OP_ADAPTER=lru keeps node-oidc-provider's own LRU (for comparing
  // the cost of a small heap; its token phase then fails).
  adapter: process.env.NODE_OP_ADAPTER === 'lru' ? undefined : MapAdapter,
  clients: [{
    client_id: 'bench',
    client_secret: env('NODE_OP_CLIENT_SECRET'),
    redirect_uris: [env('NODE_OP_REDIRECT_URI')],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: alg,
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], profile: ['name', 'roles'], email: ['email'] },
  features: { devInteractions: { enabled: false } },
  pkce: { methods: ['S256'], required: () => true },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const profile = profiles.get(sub);
    if (!profile) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...profile }) };
  },
  // First-party client: grant its scopes without a consent page.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const found = await ctx.oidc.provider.Grant.find(grantId);
      if (found) return found;
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The same shape as the bridge's login page: a form posting username and
// password (the interaction id travels in the URL and its cookie).
function page(res, uid, message) {
  const alert = message ? `<div class="alert" role="alert">${escape(message)}</div>` : '';
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><main class="card"><h1>Sign in</h1>${alert}
<form method="post" action="/interaction/${escape(uid)}/login" novalidate>
<label for="username">Username</label><input id="username" name="username" type="text" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></main></body></html>`);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > 65536) reject(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid || details.prompt.name !== 'login') {
    res.writeHead(400).end('unexpected interaction');
    return;
  }
  if (req.method === 'GET' && !action) {
    page(res, uid);
    return;
  }
  if (req.method !== 'POST' || action !== 'login') {
    res.writeHead(405).end();
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  const answer = await fetch(`${upstream}/api/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: form.get('username') ?? '', password: form.get('password') ?? '' }),
    signal: AbortSignal.timeout(5000),
  });
  if (answer.status !== 200) {
    await answer.arrayBuffer();
    page(res, uid, 'The username or password is wrong.');
    return;
  }
  const { user } = await answer.json();
  profiles.set(user.id, { name: user.name, email: user.email, roles: user.roles });
  await provider.interactionFinished(req, res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
http.createServer((req, res) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/.exec(req.url.split('?')[0]);
  if (!match) {
    callback(req, res);
    return;
  }
  interaction(req, res, match[1], match[2]).catch((err) => {
    console.error('node-op: interaction failed:', err.message);
    if (!res.headersSent) res.writeHead(400);
    res.end();
  });
}).listen(port, '127.0.0.1', () => console.error(`node-oidc-provider on ${issuer}`));
