/**
 * The baseline: the metadata API as a competent engineer writes it in an afternoon. graphql-yoga
 * with an SDL schema, jose for the HS256 token, a `pg` Pool and prepared (named) statements. No
 * schema builder, no ORM, no policy module.
 *   DATABASE_URL=… JWT_SECRET=… PORT=0 tsx bench/reference/server.ts
 */
import { createServer } from "node:http";
import { createGraphQLError, createSchema, createYoga } from "graphql-yoga";
import { jwtVerify } from "jose";
import pg from "pg";

const databaseUrl = process.env.DATABASE_URL;
const jwtSecret = process.env.JWT_SECRET;
if (!databaseUrl || !jwtSecret) throw new Error("DATABASE_URL and JWT_SECRET are required");
const port = Number(process.env.PORT ?? process.argv[2] ?? 4001);
const host = process.env.HOST ?? "127.0.0.1";
// Imported once: given raw bytes, jose would import a CryptoKey on every verification.
const secret = await crypto.subtle.importKey(
  "raw",
  new TextEncoder().encode(jwtSecret),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["verify"],
);

// Timestamps go out as PostgreSQL prints them: no Date round trip.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (text) => text);
// A few connections per core: more only queue inside PostgreSQL.
const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
pool.on("error", () => {});

interface Caller {
  tenant: string;
  scopes: string[];
}

interface Row {
  key: string;
  value: string;
  version: number;
  created_at: string;
  updated_at: string;
}

interface Entry extends Row {
  linkedObjectType: string;
  identifier: string;
}

const COLUMNS = "key, value, version, created_at, updated_at";
const WHERE_LIVE = "(expires_at IS NULL OR expires_at > now())";

const typeDefs = /* GraphQL */ `
  enum LinkedObjectType {
    ACCOUNT
    ACCOUNT_PROPERTY_EFFECTIVE_PERIOD
    ACCOUNT_USER
    ORGANIZATION
    PROPERTY
    USER
  }
  type Metadata {
    linkedObjectType: LinkedObjectType!
    identifier: String!
    key: String!
    value: String!
    version: Int!
    createdAt: String!
    updatedAt: String!
  }
  type MetadataEdge {
    cursor: String!
    node: Metadata!
  }
  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }
  type MetadataConnection {
    totalCount: Int!
    edges: [MetadataEdge!]!
    pageInfo: PageInfo!
  }
  input MetadataInput {
    linkedObjectType: LinkedObjectType!
    identifier: String!
    key: String!
    value: String!
  }
  type UpdateMetadata {
    metadata: Metadata!
  }
  type Query {
    metadataForKey(linkedObjectType: LinkedObjectType = ACCOUNT, identifier: String!, key: String!): Metadata
    metadataList(
      linkedObjectType: LinkedObjectType!
      identifier: String!
      keyPrefix: String
      first: Int = 50
    ): MetadataConnection!
  }
  type Mutation {
    updateMetadata(input: MetadataInput!): UpdateMetadata!
  }
`;

interface Context {
  caller: Caller;
}

interface KeyArgs {
  linkedObjectType: string;
  identifier: string;
  key: string;
}

interface ListArgs {
  linkedObjectType: string;
  identifier: string;
  keyPrefix?: string | null;
  first: number;
}

const KEY = /^[A-Za-z0-9._-]{1,255}$/;

function requireScope(caller: Caller, ...anyOf: string[]): void {
  if (!anyOf.some((s) => caller.scopes.includes(s))) {
    throw createGraphQLError(`missing scope ${anyOf.join(" or ")}`, { extensions: { code: "FORBIDDEN" } });
  }
}

const resolvers = {
  Query: {
    async metadataForKey(_: unknown, args: KeyArgs, { caller }: Context): Promise<Entry | null> {
      requireScope(caller, "metadata.read", "metadata.write");
      const { rows } = await pool.query<Row>({
        name: "read",
        text: `SELECT ${COLUMNS} FROM reference_metadata
          WHERE tenant = $1 AND linked_object_type = $2 AND identifier = $3 AND namespace = '' AND key = $4 AND ${WHERE_LIVE}`,
        values: [caller.tenant, args.linkedObjectType, args.identifier, args.key],
      });
      const row = rows[0];
      return row ? { ...row, linkedObjectType: args.linkedObjectType, identifier: args.identifier } : null;
    },
    async metadataList(_: unknown, args: ListArgs, { caller }: Context) {
      requireScope(caller, "metadata.read", "metadata.write");
      const first = Math.min(Math.max(args.first, 0), 500);
      const prefix = args.keyPrefix ?? "";
      // key is COLLATE "C": [prefix, prefix + U+10FFFF) is exactly "starts with prefix", index-backed.
      const { rows } = await pool.query<Row & { total: string }>({
        name: "list",
        text: `SELECT ${COLUMNS}, count(*) OVER () AS total FROM reference_metadata
          WHERE tenant = $1 AND linked_object_type = $2 AND identifier = $3 AND namespace = ''
            AND key >= $4 AND key < $5 AND ${WHERE_LIVE}
          ORDER BY key LIMIT $6`,
        values: [caller.tenant, args.linkedObjectType, args.identifier, prefix, `${prefix}\u{10FFFF}`, first],
      });
      const totalCount = rows[0] ? Number(rows[0].total) : 0;
      const edges = rows.map((row) => ({
        cursor: Buffer.from(row.key).toString("base64url"),
        node: { ...row, linkedObjectType: args.linkedObjectType, identifier: args.identifier },
      }));
      return {
        totalCount,
        edges,
        pageInfo: { hasNextPage: totalCount > rows.length, endCursor: edges.at(-1)?.cursor ?? null },
      };
    },
  },
  Mutation: {
    async updateMetadata(_: unknown, { input }: { input: KeyArgs & { value: string } }, { caller }: Context) {
      requireScope(caller, "metadata.write");
      if (!KEY.test(input.key)) {
        throw createGraphQLError("invalid key", { extensions: { code: "BAD_USER_INPUT" } });
      }
      const { rows } = await pool.query<Row>({
        name: "upsert",
        text: `INSERT INTO reference_metadata AS t (tenant, linked_object_type, identifier, namespace, key, value)
          VALUES ($1, $2, $3, '', $4, $5)
          ON CONFLICT (tenant, linked_object_type, identifier, namespace, key)
          DO UPDATE SET value = EXCLUDED.value, version = t.version + 1, updated_at = now()
          RETURNING ${COLUMNS}`,
        values: [caller.tenant, input.linkedObjectType, input.identifier, input.key, input.value],
      });
      const row = rows[0];
      if (!row) throw new Error("upsert returned no row");
      return { metadata: { ...row, linkedObjectType: input.linkedObjectType, identifier: input.identifier } };
    },
  },
  Metadata: {
    createdAt: (entry: Entry) => entry.created_at,
    updatedAt: (entry: Entry) => entry.updated_at,
  },
};

async function authenticate(header: string | null): Promise<Caller> {
  const token = header?.startsWith("Bearer ") ? header.slice(7) : undefined;
  if (!token) throw unauthenticated("missing bearer token");
  try {
    const { payload } = await jwtVerify(token, secret, { algorithms: ["HS256"], requiredClaims: ["exp"] });
    const tenant = typeof payload.tenant === "string" ? payload.tenant : "default";
    const scopes = typeof payload.scope === "string" ? payload.scope.split(" ") : [];
    return { tenant, scopes };
  } catch {
    throw unauthenticated("invalid token");
  }
}

function unauthenticated(message: string) {
  return createGraphQLError(message, { extensions: { code: "UNAUTHENTICATED", http: { status: 401 } } });
}

const yoga = createYoga({
  schema: createSchema<Context>({ typeDefs, resolvers }),
  context: async ({ request }) => ({ caller: await authenticate(request.headers.get("authorization")) }),
  logging: false,
  graphiql: false,
  landingPage: false,
});

const server = createServer(yoga);
server.listen(port, host, () => {
  const address = server.address();
  const actual = typeof address === "object" && address ? address.port : port;
  console.log(`reference listening on http://${host}:${actual}/graphql`);
});

process.on("SIGTERM", () => {
  server.close(() => {
    void pool.end().then(() => process.exit(0));
  });
  server.closeIdleConnections();
});
