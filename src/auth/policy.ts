import { Forbidden, Unauthenticated } from "../errors.js";
import type { Principal } from "./principal.js";

/**
 * The one access policy. Every operation asks `authorize` before it touches storage; the answer
 * is the tenant and stored namespace the operation is confined to.
 */

export const LINKED_OBJECT_TYPES = [
  "ACCOUNT",
  "ACCOUNT_USER",
  "PROPERTY",
  "ACCOUNT_PROPERTY_EFFECTIVE_PERIOD",
  "ORGANIZATION",
  "USER",
] as const;
export type LinkedObjectType = (typeof LINKED_OBJECT_TYPES)[number];

export const SCOPE_READ = "metadata.read";
export const SCOPE_WRITE = "metadata.write";
/** Staff: every object and namespace of the tenant (other clients' `$app` excepted). */
export const PERMISSION_STAFF = "CAN_MUTATE_METADATA";
/** The calling OAuth client's private namespace. */
export const APP_NAMESPACE = "$app";

export type Access = "read" | "write";

export interface Target {
  linkedObjectType: LinkedObjectType;
  identifier: string;
  /** As the caller names it: undefined (default), "$app", or a named namespace. */
  namespace: string | undefined;
}

/** Where an authorized operation may act. */
export interface Grant {
  tenant: string;
  /** The namespace as stored: "" (default), the name, or "$app:<client id>". */
  storedNamespace: string;
}

export function authorize(principal: Principal | null, access: Access, target: Target): Grant {
  if (!principal) throw new Unauthenticated("Authentication required: send 'Authorization: Bearer <token>'");
  const staff = principal.permissions.has(PERMISSION_STAFF);
  assertScope(principal, access, staff);
  assertReach(principal, target, staff);
  return { tenant: principal.tenant, storedNamespace: namespaceFor(principal, access, target.namespace, staff) };
}

/**
 * Definitions (typed keys) are the tenant's schema for its entries: anyone who may read the
 * tenant's entries reads them (a client validates before it writes); only staff change them, as
 * a change binds every writer of the tenant.
 */
export function authorizeDefinitions(principal: Principal | null, access: Access): { tenant: string } {
  if (!principal) throw new Unauthenticated("Authentication required: send 'Authorization: Bearer <token>'");
  const staff = principal.permissions.has(PERMISSION_STAFF);
  if (access === "write" && !staff) {
    throw new Forbidden(`Not allowed: metadata definitions are managed only with permission ${PERMISSION_STAFF}`, {
      missingPermission: PERMISSION_STAFF,
    });
  }
  assertScope(principal, access, staff);
  return { tenant: principal.tenant };
}

function assertScope(principal: Principal, access: Access, staff: boolean): void {
  if (staff || principal.scopes.has(SCOPE_WRITE)) return;
  if (access === "read" && principal.scopes.has(SCOPE_READ)) return;
  const needed = access === "read" ? `${SCOPE_READ} or ${SCOPE_WRITE}` : SCOPE_WRITE;
  throw new Forbidden(`Missing scope: ${access} needs scope ${needed} (or permission ${PERMISSION_STAFF})`, {
    missingScope: access === "read" ? SCOPE_READ : SCOPE_WRITE,
  });
}

/** Which linked objects the principal reaches at all. */
function assertReach(principal: Principal, { linkedObjectType: type, identifier }: Target, staff: boolean): void {
  // Staff and client-mode tokens act for the whole tenant.
  if (staff || principal.subject === undefined) return;
  if (reachesAsUser(principal, type, identifier)) return;
  const why =
    type === "PROPERTY" || type === "ACCOUNT_PROPERTY_EFFECTIVE_PERIOD"
      ? `${type} objects need permission ${PERMISSION_STAFF}`
      : `the token does not reach ${type} ${identifier}`;
  throw new Forbidden(`Not allowed: ${why}`, { missingReach: `${type}:${identifier}` });
}

function reachesAsUser(p: Principal, type: LinkedObjectType, identifier: string): boolean {
  switch (type) {
    case "USER":
      return identifier === p.subject;
    case "ACCOUNT_USER":
      return identifier === p.subject || (p.email !== undefined && identifier === p.email);
    case "ACCOUNT":
      return p.accounts.has(identifier);
    case "ORGANIZATION":
      return p.orgs.has(identifier);
    case "PROPERTY":
    case "ACCOUNT_PROPERTY_EFFECTIVE_PERIOD":
      return false;
  }
}

/** Namespaces are visibility levels: default (user-writable), named (read-only to users), `$app`. */
function namespaceFor(p: Principal, access: Access, namespace: string | undefined, staff: boolean): string {
  if (namespace === APP_NAMESPACE) {
    if (!p.clientId) {
      throw new Forbidden("Not allowed: the $app namespace needs a token with client_id or azp", {
        missingClaim: "client_id",
      });
    }
    return `${APP_NAMESPACE}:${p.clientId}`;
  }
  // A client-mode token keeps to its own $app namespace unless it is staff.
  if (p.subject === undefined && !staff) {
    throw new Forbidden(
      `Not allowed: a client-mode token reaches only its own ${APP_NAMESPACE} namespace without permission ${PERMISSION_STAFF}`,
      { missingPermission: PERMISSION_STAFF },
    );
  }
  if (namespace === undefined) return "";
  if (access === "write" && !staff) {
    throw new Forbidden(`Not allowed: namespace '${namespace}' is written only with permission ${PERMISSION_STAFF}`, {
      missingPermission: PERMISSION_STAFF,
    });
  }
  return namespace;
}
