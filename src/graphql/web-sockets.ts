import type { IncomingMessage, Server } from "node:http";
import type { ExecutionArgs, GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createGraphQLError, type YogaServerInstance } from "graphql-yoga";
import { WebSocketServer } from "ws";
import { LimitExceeded } from "../errors.js";
import type { GraphQLContext } from "./builder.js";
import { maskError } from "./errors.js";

/** Concurrent subscriptions one WebSocket may hold: each holds a feed subscriber and its queue. */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 100;

type Yoga = YogaServerInstance<{ req?: IncomingMessage }, GraphQLContext>;
type Enveloped = ReturnType<Yoga["getEnveloped"]>;

export interface WebSocketOptions {
  path: string;
  /** Largest message a client may send (MAX_REQUEST_BODY_BYTES). */
  maxPayload: number;
}

/**
 * GraphQL over WebSocket (the graphql-transport-ws protocol of graphql-ws) on the HTTP server's
 * upgrade, following Yoga's recipe: every operation runs through Yoga's envelop (the same context
 * factory — token verification and rate limit —, masking, graphql-armor limits, the one policy).
 * The token comes from the connection_init payload's `Authorization` (browsers cannot set headers
 * on a WebSocket), else from the upgrade request's header; each subscription verifies it again.
 */
export function serveWebSockets(server: Server, yoga: Yoga, { path, maxPayload }: WebSocketOptions) {
  const sockets = new WebSocketServer({ server, path, maxPayload });
  const disposable = useServer<Record<string, unknown> | undefined>(
    {
      execute: (args) => envelopedOf(args).execute(args),
      subscribe: (args) => envelopedOf(args).subscribe(args),
      async onSubscribe(ctx, _id, payload) {
        // graphql-ws has reserved this one's id already (on receipt, synchronously): it counts.
        if (Object.keys(ctx.subscriptions).length > MAX_SUBSCRIPTIONS_PER_SOCKET) {
          return [
            coded(
              new LimitExceeded(
                `At most ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions per WebSocket: open another connection`,
                { limit: MAX_SUBSCRIPTIONS_PER_SOCKET },
              ),
            ),
          ];
        }
        const headers = new Headers();
        const authorization = authorizationOf(ctx.connectionParams) ?? ctx.extra.request.headers.authorization;
        if (authorization) headers.set("authorization", authorization);
        const enveloped = yoga.getEnveloped({
          request: new Request(`http://localhost${path}`, { method: "POST", headers }),
          req: ctx.extra.request,
          params: payload,
        });
        try {
          const document = enveloped.parse(payload.query);
          const errors = enveloped.validate(enveloped.schema, document);
          if (errors.length) return errors;
          const args: ExecutionArgs = {
            schema: enveloped.schema,
            operationName: payload.operationName,
            document,
            variableValues: payload.variables,
            contextValue: await enveloped.contextFactory(),
            rootValue: { [ENVELOPED]: enveloped },
          };
          return args;
        } catch (error) {
          // A refused token, a rate limit, a document past the limits: the code, as over HTTP.
          return [coded(error)];
        }
      },
    },
    sockets,
  );
  return {
    /** Completes nothing itself (the feed does): closes every socket (1001 Going Away) and stops accepting. */
    close: () => disposable.dispose(),
  };
}

const ENVELOPED = Symbol("enveloped");

function envelopedOf(args: ExecutionArgs): Enveloped {
  return (args.rootValue as { [ENVELOPED]: Enveloped })[ENVELOPED];
}

function authorizationOf(params: Record<string, unknown> | undefined): string | undefined {
  const value = params?.Authorization ?? params?.authorization;
  return typeof value === "string" ? value : undefined;
}

function coded(error: unknown): GraphQLError {
  const masked = maskError(error, "Unexpected error.");
  return "extensions" in masked ? (masked as GraphQLError) : createGraphQLError(masked.message);
}
