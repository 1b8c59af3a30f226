import { execFile, spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cliEnv,
  dataDirWithEmptyCluster,
  graphql,
  killLeftovers,
  REPO_ROOT,
  removeTempDirs,
  type ServerProcess,
  startServer,
} from "./support/process.js";

// The client examples in examples/, run as their READMEs say, against a live server in dev mode.

interface ProgramResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program in the repository root to its end (never rejects: the exit code is the verdict). */
function runProgram(file: string, args: string[], env: Record<string, string>): Promise<ProgramResult> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: REPO_ROOT, env: cliEnv(env), timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Why the Python example cannot run here, or undefined when it can. */
function pythonUnavailable(): string | undefined {
  const probe = spawnSync("python3", ["-c", "import requests"], { encoding: "utf8" });
  if (probe.error) return `python3 is not installed (${probe.error.message})`;
  if (probe.status !== 0) return `python3 cannot import requests (pip install requests): ${probe.stderr.trim()}`;
  return undefined;
}

let server: ServerProcess;
let env: Record<string, string>;

beforeAll(async () => {
  server = await startServer({ DATA_DIR: await dataDirWithEmptyCluster() });
  if (!server.devToken) throw new Error(`no dev token printed:\n${server.stdout()}`);
  env = { METADATA_GRAPH_URL: `${server.origin}/graphql`, METADATA_GRAPH_TOKEN: server.devToken };
});
afterAll(async () => {
  await killLeftovers();
  await removeTempDirs();
});

describe("client examples against a live server", () => {
  it("examples/typescript-client sets, reads, lists page by page and deletes, printing each step", async () => {
    const result = await runProgram(process.execPath, ["--import", "tsx", "examples/typescript-client/main.ts"], env);
    expect(result.code, result.stderr).toBe(0);
    // The lines its README shows.
    const pet = '{"pet_type":"dog","name":"fang"}';
    expect(result.stdout.trimEnd().split("\n")).toEqual([
      "set ts-example.color = blue (version 1)",
      `set ts-example.pet = ${pet} (version 1)`,
      "set ts-example.size = large (version 1)",
      `read ts-example.pet = ${pet} (jsonValue ${pet}, version 1)`,
      "list page 1: ts-example.color, ts-example.pet (3 in all)",
      "list page 2: ts-example.size (3 in all)",
      "deleted ts-example.color (was version 1)",
      "deleted ts-example.pet (was version 1)",
      "deleted ts-example.size (was version 1)",
    ]);
    // It cleaned up after itself.
    const left = await graphql<{ metadata: { key: string }[] }>(
      server.origin,
      'query { metadata(identifier: "A-154321") { key } }',
      { authorization: `Bearer ${server.devToken}` },
    );
    expect(left.body.data?.metadata.filter((m) => m.key.startsWith("ts-example."))).toEqual([]);
  });

  it("examples/typescript-client without a token says what to set and exits 2", async () => {
    const result = await runProgram(process.execPath, ["--import", "tsx", "examples/typescript-client/main.ts"], {
      METADATA_GRAPH_URL: env.METADATA_GRAPH_URL ?? "",
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("METADATA_GRAPH_TOKEN");
  });

  it("examples/kraken-python (Kraken's Python client) writes and prints the entry", async (ctx) => {
    const unavailable = pythonUnavailable();
    ctx.skip(unavailable !== undefined, `Python example skipped: ${unavailable}`);
    const result = await runProgram("python3", ["examples/kraken-python/update_metadata.py"], env);
    expect(result.code, result.stderr).toBe(0);
    // pprint of the response: no errors, Python's json.dumps spacing kept byte for byte.
    expect(result.stdout).toBe(
      [
        "{'data': {'updateMetadata': {'metadata': {'key': 'some_unique_key',",
        "                                          'value': '{\"pet_type\": \"dog\", '",
        '                                                   \'"name": "fang"}\'}}}}',
        "",
      ].join("\n"),
    );
    const stored = await graphql<{ metadataForKey: { value: string } }>(
      server.origin,
      'query { metadataForKey(identifier: "A-154321", key: "some_unique_key") { value } }',
      { authorization: `Bearer ${server.devToken}` },
    );
    expect(stored.body.data?.metadataForKey.value).toBe('{"pet_type": "dog", "name": "fang"}');
  });
});
