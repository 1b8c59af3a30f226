import { createServer, type Server } from "node:http";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { TENANTS } from "./dataset.js";

/** `Authorization` header values per tenant. */
export type Authorizations = ReadonlyMap<string, string>;

const CLAIMS = { sub: "bench", scope: "metadata.read metadata.write", permissions: ["CAN_MUTATE_METADATA"] };

export async function hs256Authorizations(secret: string): Promise<Authorizations> {
  const key = new TextEncoder().encode(secret);
  const entries = await Promise.all(
    TENANTS.map(async (tenant) => {
      const jwt = await new SignJWT({ ...CLAIMS, tenant })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setIssuedAt()
        .setExpirationTime("6h")
        .sign(key);
      return [tenant, `Bearer ${jwt}`] as const;
    }),
  );
  return new Map(entries);
}

export interface JwksServer {
  url: string;
  authorizations: Authorizations;
  close(): Promise<void>;
}

/** A local JWKS endpoint serving one RS256 public key (with a kid), and tokens signed by its private key. */
export async function startJwksServer(): Promise<JwksServer> {
  const kid = "bench-rs256-1";
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" }] });
  const server: Server = createServer((request, response) => {
    if (request.url === "/.well-known/jwks.json") {
      response.writeHead(200, { "content-type": "application/json" }).end(jwks);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || !address) throw new Error("JWKS server has no address");
  const entries = await Promise.all(
    TENANTS.map(async (tenant) => {
      const jwt = await new SignJWT({ ...CLAIMS, tenant })
        .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
        .setIssuedAt()
        .setExpirationTime("6h")
        .sign(privateKey);
      return [tenant, `Bearer ${jwt}`] as const;
    }),
  );
  return {
    url: `http://127.0.0.1:${address.port}/.well-known/jwks.json`,
    authorizations: new Map(entries),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
