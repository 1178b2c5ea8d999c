// The tests' OpenID provider: panva's oidc-provider (OpenID Certified), configured from a
// JSON file given as the first argument. It listens on 127.0.0.1 (port 0 = any free port)
// and prints one line of JSON, {"issuer": "http://127.0.0.1:PORT"}, when it is ready.
//
// - accounts: {"<login>": {"email", "email_verified", "name", "groups"}}. The dev login
//   page accepts any login; a login not listed gets an unverified e-mail "<login>".
// - clients: oidc-provider client metadata (the tests' soporte, and Dovecot, which
//   introspects tokens).
// - ttl: {"AccessToken", "IdToken", "RefreshToken", "ClientCredentials"} in seconds.
// - mailbox: the "username" of client-credentials tokens (the mailbox an app may open, as
//   Exchange Online's service principal grants). Every access token carries "username",
//   which Dovecot's oauth2 passdb reads from the introspection answer.
// Refresh tokens rotate on every use; a used one is refused (and revokes its grant).
import Provider from "oidc-provider";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const accounts = config.accounts || {};
const ttl = config.ttl || {};

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: "jwk" }), kid: "prueba-1", use: "sig", alg: "RS256" };

const server = createServer();
server.listen(config.port || 0, "127.0.0.1", () => {
  const port = server.address().port;
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: { keys: [signingKey] },
    cookies: { keys: ["clave-de-cookies-de-prueba"] },
    scopes: ["openid", "email", "profile", "groups", "offline_access", "mail"],
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name"],
      groups: ["groups"],
    },
    // The ID token carries the scopes' claims itself (soporte reads no userinfo).
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
    },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: ttl.AccessToken || 3600,
      ClientCredentials: ttl.ClientCredentials || 3600,
      IdToken: ttl.IdToken || 3600,
      RefreshToken: ttl.RefreshToken || 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Session: 3600,
      Interaction: 3600,
      AuthorizationCode: 600,
    },
    async findAccount(ctx, id) {
      const a = accounts[id] || { email: id, email_verified: false };
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...a };
        },
      };
    },
    async extraTokenClaims(ctx, token) {
      const id = token.accountId;
      return { username: id ? (accounts[id] && accounts[id].email) || id : config.mailbox };
    },
  });
  provider.on("server_error", (ctx, err) => console.error("server_error", err));
  server.on("request", provider.callback());
  console.log(JSON.stringify({ issuer }));
});
