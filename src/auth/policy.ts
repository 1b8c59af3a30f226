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
  return reachableAsUser(p, type).has(identifier);
}

/** The identifiers of `type` a user token reaches: its accounts, orgs, and itself. */
function reachableAsUser(p: Principal, type: LinkedObjectType): ReadonlySet<string> {
  switch (type) {
    case "USER":
      return new Set(p.subject === undefined ? [] : [p.subject]);
    case "ACCOUNT_USER":
      return new Set([p.subject, p.email].filter((id): id is string => id !== undefined));
    case "ACCOUNT":
      return p.accounts;
    case "ORGANIZATION":
      return p.orgs;
    case "PROPERTY":
    case "ACCOUNT_PROPERTY_EFFECTIVE_PERIOD":
      return new Set();
  }
}

/** Where a search across the objects of one type may look. */
export interface SearchGrant extends Grant {
  /** "all": every object of the type in the tenant; else only these (possibly none). */
  identifiers: "all" | readonly string[];
}

/**
 * A search reads many objects at once: the same rules as a read of each, answered as the set of
 * objects the caller reaches instead of a yes or no for one. Staff and client-mode tokens reach the
 * whole tenant; a user token its accounts, orgs and itself.
 */
export function authorizeSearch(
  principal: Principal | null,
  target: Pick<Target, "linkedObjectType" | "namespace">,
): SearchGrant {
  if (!principal) throw new Unauthenticated("Authentication required: send 'Authorization: Bearer <token>'");
  const staff = principal.permissions.has(PERMISSION_STAFF);
  assertScope(principal, "read", staff);
  const type = target.linkedObjectType;
  let identifiers: SearchGrant["identifiers"] = "all";
  if (!staff && principal.subject !== undefined) {
    if (type === "PROPERTY" || type === "ACCOUNT_PROPERTY_EFFECTIVE_PERIOD") {
      throw new Forbidden(`Not allowed: ${type} objects need permission ${PERMISSION_STAFF}`, {
        missingReach: `${type}:*`,
      });
    }
    identifiers = [...reachableAsUser(principal, type)];
  }
  return {
    tenant: principal.tenant,
    storedNamespace: namespaceFor(principal, "read", target.namespace, staff),
    identifiers,
  };
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
