import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** How the server answers: a JWKS, or one of the ways an identity provider fails. */
export type KeyServerMode = "ok" | "status-500" | "invalid-json" | "not-a-key-set" | "redirect" | "hang";

/** A local HTTP server standing in for an identity provider's JWKS endpoint, or an attacker's. */
export interface KeyServer {
  /** `<origin>/.well-known/jwks.json` */
  readonly url: string;
  readonly origin: string;
  /** The path of every request received, on any path. */
  readonly requests: string[];
  /** The keys served in mode "ok". */
  keys: object[];
  mode: KeyServerMode;
  close(): Promise<void>;
}

export async function startKeyServer(keys: object[] = []): Promise<KeyServer> {
  const requests: string[] = [];
  const state = { keys, mode: "ok" as KeyServerMode };
  const server = createServer((request, response) => {
    requests.push(request.url ?? "");
    const json = (status: number, body: string) =>
      response.writeHead(status, { "content-type": "application/json" }).end(body);
    switch (state.mode) {
      case "ok":
        return json(200, JSON.stringify({ keys: state.keys }));
      case "status-500":
        return json(500, JSON.stringify({ error: "internal" }));
      case "invalid-json":
        return json(200, '{"keys": [');
      case "not-a-key-set":
        return json(200, JSON.stringify({ keys: "none today" }));
      case "redirect":
        // To a path that serves the keys: following it would hide where the keys came from.
        return response.writeHead(302, { location: "/.well-known/jwks.json?redirected" }).end();
      case "hang":
        return; // Never answers: the client's timeout must end the wait.
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, {
    url: `${origin}/.well-known/jwks.json`,
    origin,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  });
}

/** A URL on a port nothing listens on any more: connections are refused. */
export async function refusedUrl(): Promise<string> {
  const server = await startKeyServer();
  await server.close();
  return server.url;
}
