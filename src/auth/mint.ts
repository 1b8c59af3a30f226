import { SignJWT } from "jose";
import type { Config } from "../config.js";
import { ConfigError } from "../config.js";
import { signingSecret } from "./keys.js";
import { PERMISSION_STAFF, SCOPE_READ, SCOPE_WRITE } from "./policy.js";

export interface TokenClaims {
  sub?: string;
  tenant?: string;
  scope?: string;
  client_id?: string;
  permissions?: string[];
  accounts?: string[];
  orgs?: string[];
  email?: string;
}

/** Signs a token with JWT_SECRET or the dev key (HS256), with the configured issuer and audience. */
export async function mintToken(
  config: Config,
  claims: TokenClaims,
  expiresIn: string | number = "1h",
): Promise<string> {
  const secret = signingSecret(config);
  if (!secret) {
    throw new ConfigError(
      "Cannot mint tokens: only JWT_SECRET or the dev key (no key configured, not production) can sign; " +
        "with JWT_PUBLIC_KEY or JWKS_URL, tokens come from your identity provider",
    );
  }
  let jwt = new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(expiresIn);
  if (config.jwt.issuer) jwt = jwt.setIssuer(config.jwt.issuer);
  if (config.jwt.audience?.length) jwt = jwt.setAudience(config.jwt.audience);
  return jwt.sign(secret);
}

/** The dev token printed at start-up: a staff user with every right in the default tenant. */
export function devTokenClaims(): TokenClaims {
  return {
    sub: "dev-user",
    tenant: "default",
    scope: `${SCOPE_READ} ${SCOPE_WRITE}`,
    client_id: "dev-client",
    permissions: [PERMISSION_STAFF],
    email: "dev@example.com",
  };
}
