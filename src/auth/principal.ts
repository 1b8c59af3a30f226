import { z } from "zod";

/** Who is calling, as the verified token says. */
export interface Principal {
  readonly tenant: string;
  /** The user; absent for a client-credentials ("client mode") token. */
  readonly subject: string | undefined;
  readonly clientId: string | undefined;
  readonly email: string | undefined;
  readonly scopes: ReadonlySet<string>;
  readonly permissions: ReadonlySet<string>;
  readonly accounts: ReadonlySet<string>;
  readonly orgs: ReadonlySet<string>;
  /** When the token stops being valid (`exp`): long-lived operations (subscriptions) end then. */
  readonly expiresAt: Date | undefined;
}

const text = z.string().min(1).max(255);
// Account numbers are strings ("A-12345") but some issuers emit plain numbers.
const idList = z.array(z.union([text, z.number().transform(String)])).default([]);

const ClaimsSchema = z.object({
  sub: text.optional(),
  tenant: text.default("default"),
  scope: z.string().optional(),
  scp: z.array(z.string()).optional(),
  client_id: text.optional(),
  azp: text.optional(),
  permissions: z.array(z.string()).default([]),
  accounts: idList,
  orgs: idList,
  email: z.string().max(255).optional(),
  // jose has already checked it (and the verifier requires it); absent only in claims built by hand.
  exp: z.number().optional(),
});

/** Throws a ZodError when a claim has the wrong shape. */
export function principalFromClaims(claims: unknown): Principal {
  const c = ClaimsSchema.parse(claims);
  const scopes = [...(c.scope?.split(" ") ?? []), ...(c.scp ?? [])].filter(Boolean);
  return {
    tenant: c.tenant,
    subject: c.sub,
    clientId: c.client_id ?? c.azp,
    email: c.email,
    scopes: new Set(scopes),
    permissions: new Set(c.permissions),
    accounts: new Set(c.accounts),
    orgs: new Set(c.orgs),
    expiresAt: c.exp === undefined ? undefined : new Date(c.exp * 1000),
  };
}

/** Who a change is recorded as: the user, or the client for a client-credentials token. */
export function actorOf(principal: Principal): string | null {
  return principal.subject ?? principal.clientId ?? null;
}
