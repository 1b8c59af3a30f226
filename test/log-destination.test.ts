import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./support/process.js";

/**
 * The production log destination (src/observability/log-destination.ts) batches lines in memory:
 * none may be lost or reordered, whether the process exits on its own, flushes then exits (main.ts on
 * SIGTERM), exits abruptly, or stays idle after a few lines. CI runs it on Node 20 and 24: without
 * the exit hook's care the last batch was lost at exit on Node 24 only.
 */

interface Run {
  lines: string[];
  /** Milliseconds from spawn to the first byte on stdout. */
  firstOutputMs: number | undefined;
  code: number | null;
}

function runScript(body: string): Promise<Run> {
  const script = `import { batchedDestination } from "./src/observability/log-destination.ts";
const out = batchedDestination(1);
${body}`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const started = performance.now();
  let text = "";
  let firstOutputMs: number | undefined;
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    firstOutputMs ??= performance.now() - started;
    text += chunk;
  });
  return new Promise((resolve) =>
    child.once("close", (code) => resolve({ lines: text.split("\n").filter(Boolean), firstOutputMs, code })),
  );
}

const numbered = (n: number) => Array.from({ length: n }, (_, i) => `line ${i} ${"x".repeat(i % 300)}`);

describe("batched log destination", () => {
  it("writes 20,000 lines in order when the process ends on its own", async () => {
    const run = await runScript(
      `for (let i = 0; i < 20000; i++) out.write(\`line \${i} \${"x".repeat(i % 300)}\\n\`);`,
    );
    expect(run.code).toBe(0);
    expect(run.lines).toEqual(numbered(20_000));
  });

  it("flush() writes everything out, in order, before its callback (main.ts, on SIGTERM, before exiting)", async () => {
    const run = await runScript(
      `for (let i = 0; i < 1000; i++) out.write(\`line \${i} \${"x".repeat(i % 300)}\\n\`); out.flush(() => process.exit(3));`,
    );
    expect(run.code).toBe(3);
    expect(run.lines).toEqual(numbered(1000));
  });

  it("an abrupt process.exit() writes every line, in order", async () => {
    const run = await runScript(
      `for (let i = 0; i < 1000; i++) out.write(\`line \${i} \${"x".repeat(i % 300)}\\n\`); process.exit(3);`,
    );
    expect(run.code).toBe(3);
    expect(run.lines).toEqual(numbered(1000));
  });

  it("writes multi-byte characters and lines longer than a batch intact, in order", async () => {
    // 30,000 units of 3 bytes: a line far past the 64 KB batch, between lines that fill batches.
    const run = await runScript(
      `for (let i = 0; i < 3000; i++) out.write(\`line \${i} \${"é€😀".repeat(i % 50)}\\n\`);
out.write("big " + "€".repeat(30000) + "\\n");
for (let i = 3000; i < 6000; i++) out.write(\`line \${i} \${"é€😀".repeat(i % 50)}\\n\`);`,
    );
    expect(run.code).toBe(0);
    const line = (i: number) => `line ${i} ${"é€😀".repeat(i % 50)}`;
    const expected = [
      ...Array.from({ length: 3000 }, (_, i) => line(i)),
      `big ${"€".repeat(30000)}`,
      ...Array.from({ length: 3000 }, (_, i) => line(3000 + i)),
    ];
    expect(run.lines.length).toBe(expected.length);
    expect(run.lines).toEqual(expected);
  });

  it("writes a few lines within about a second when nothing else comes", async () => {
    // Far below the batch size; the process stays up 4 s after writing them.
    const run = await runScript(
      `out.write("one\\n"); out.write("two\\n"); const t = setTimeout(() => {}, 4000); process.stdout.on("close", () => clearTimeout(t));`,
    );
    expect(run.lines).toEqual(["one", "two"]);
    // Start-up (tsx) takes part of it; the lines come out well before the process's end at ~4 s.
    expect(run.firstOutputMs).toBeLessThan(3500);
  });
});
