// An app behind Gatehouse that trusts only a verified X-Auth-Assertion.
// npm install jose; GATEHOUSE_ISSUER=https://auth.example.com ROUTE=app node server.mjs
import http from "node:http";
import { createRemoteJWKSet, jwtVerify } from "jose";

const issuer = process.env.GATEHOUSE_ISSUER ?? "https://auth.example.com"; // server.public_url
const audience = process.env.ROUTE ?? "app"; // the route's name
const jwks = createRemoteJWKSet(new URL(`${issuer}/auth/.well-known/jwks.json`));

http.createServer(async (req, res) => {
  try {
    const { payload } = await jwtVerify(req.headers["x-auth-assertion"] ?? "", jwks, {
      issuer,
      audience,
      algorithms: ["ES256", "EdDSA"],
      clockTolerance: 5,
    });
    res.end(`hello ${payload.sub} (${payload.role})\n`);
  } catch {
    res.writeHead(401).end("unauthenticated\n");
  }
}).listen(Number(process.env.PORT ?? 3000), "127.0.0.1");
