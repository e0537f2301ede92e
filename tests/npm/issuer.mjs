// An independent token issuer for one integration test: oauth2-mock-server,
// made to issue tokens in the IDCS shape through its beforeTokenSigning hook.
// Prints one JSON line {"issuer", "token_url", "jwks_url"} when ready; stops on stdin EOF.
import { OAuth2Server } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

server.service.on('beforeTokenSigning', (token, req) => {
  const header = req.headers.authorization || '';
  const clientId = header.startsWith('Basic ')
    ? Buffer.from(header.slice(6), 'base64').toString().split(':')[0]
    : (req.body && req.body.client_id) || 'unknown';
  const now = Math.floor(Date.now() / 1000);
  token.payload.iss = 'https://identity.oraclecloud.com/';
  token.payload.aud = [process.env.AUDIENCE, 'urn:opc:lbaas:logicalguid=mock'];
  token.payload.scope = process.env.SCOPE;
  token.payload.sub = clientId;
  token.payload.sub_type = 'client';
  token.payload.client_id = clientId;
  token.payload.tok_type = 'AT';
  token.payload.iat = now;
  token.payload.exp = now + 3600;
  token.payload.jti = `${now}-${Math.random().toString(16).slice(2)}`;
});

await server.start(0, '127.0.0.1');
const base = server.issuer.url;
process.stdout.write(JSON.stringify({ issuer: base, token_url: `${base}/token`, jwks_url: `${base}/jwks` }) + '\n');
process.stdin.resume();
process.stdin.on('end', async () => { await server.stop(); process.exit(0); });
