/** Self time per function from a V8 `.cpuprofile` (as written by `node --cpu-prof`). */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "./servers.js";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface HotFunction {
  name: string;
  location: string;
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  percent: number;
}

/** A span of CLOCK_MONOTONIC in µs (`process.hrtime.bigint() / 1000n`), the clock V8's profiler stamps samples with. */
export interface Window {
  fromMicros: number;
  toMicros: number;
}

export interface ProfileSummary {
  file: string;
  /** Only samples inside this span counted (the measured rounds, not start-up and warm-up). */
  window: Window | undefined;
  sampledMs: number;
  idleMs: number;
  top: HotFunction[];
  /** Self time summed per package (node_modules/<pkg>), our own directories, Node's internals, native, wasm. */
  byPackage: { name: string; selfMs: number; percent: number }[];
}

export async function findProfile(dir: string): Promise<string> {
  const file = (await readdir(dir)).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile in ${dir}: did the server exit through its SIGTERM handler?`);
  return join(dir, file);
}

export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export async function summarizeProfile(file: string, window?: Window, count = 15): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const selfMicros = selfTimes(profile, window);
  const byFunction = new Map<string, HotFunction>();
  const byPackage = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const node of profile.nodes) {
    const micros = selfMicros.get(node.id) ?? 0;
    total += micros;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idle += micros;
      continue;
    }
    const name = functionName || "(anonymous)";
    const location = url ? `${shorten(url)}:${lineNumber + 1}` : "";
    const id = `${name} ${location}`;
    const known = byFunction.get(id) ?? { name, location, selfMs: 0, percent: 0 };
    known.selfMs += micros / 1000;
    byFunction.set(id, known);
    const pkg = packageOf(url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + micros / 1000);
  }
  const busyMs = (total - idle) / 1000;
  const top = [...byFunction.values()]
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, count)
    .map((f) => ({ ...f, selfMs: round(f.selfMs), percent: round((100 * f.selfMs) / busyMs) }));
  const packages = [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => ({ name, selfMs: round(ms), percent: round((100 * ms) / busyMs) }));
  return { file, window, sampledMs: round(total / 1000), idleMs: round(idle / 1000), top, byPackage: packages };
}

/**
 * Sample i lasts until sample i+1 (timeDeltas[i+1]), as DevTools counts it; with a window, only
 * samples taken inside it count. Without samples, hitCount × the mean interval (no window).
 */
function selfTimes(profile: CpuProfile, window: Window | undefined): Map<number, number> {
  const result = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  if (samples?.length && timeDeltas?.length === samples.length) {
    let at = profile.startTime;
    for (let i = 0; i < samples.length; i++) {
      at += timeDeltas[i] ?? 0;
      if (window && (at < window.fromMicros || at > window.toMicros)) continue;
      const node = samples[i] as number;
      const duration = timeDeltas[i + 1] ?? 0;
      result.set(node, (result.get(node) ?? 0) + Math.max(duration, 0));
    }
    return result;
  }
  const hits = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
  const interval = hits ? (profile.endTime - profile.startTime) / hits : 0;
  for (const n of profile.nodes) result.set(n.id, (n.hitCount ?? 0) * interval);
  return result;
}

function shorten(url: string): string {
  const path = url.replace(/^file:\/\//, "");
  const modules = path.lastIndexOf("/node_modules/");
  if (modules >= 0) return path.slice(modules + 1);
  return path.startsWith(`${REPO_ROOT}/`) ? path.slice(REPO_ROOT.length + 1) : path;
}

function packageOf(url: string): string {
  if (!url) return "(native: GC, syscalls, builtins)";
  if (url.startsWith("wasm://")) return "(wasm)";
  if (url.startsWith("node:")) return "node: internals";
  const path = shorten(url);
  const modules = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (modules?.[1]) return modules[1];
  return path.split("/").slice(0, 2).join("/");
}

const round = (n: number) => Math.round(n * 10) / 10;

export function formatProfile(summary: ProfileSummary): string {
  const busy = round(summary.sampledMs - summary.idleMs);
  const lines = [
    `Top ${summary.top.length} functions by self time (${summary.file})`,
    `${summary.window ? "measured rounds only (start-up and warm-up left out)" : "whole process"}: ` +
      `sampled ${summary.sampledMs} ms, busy ${busy} ms, idle ${summary.idleMs} ms; % of busy time`,
    "",
    "| # | Function | Location | Self ms | % |",
    "| ---: | --- | --- | ---: | ---: |",
    ...summary.top.map(
      (f, i) =>
        `| ${i + 1} | \`${f.name}\` | ${f.location || "(native)"} | ${f.selfMs.toFixed(1)} | ${f.percent.toFixed(1)} |`,
    ),
    "",
    "Self time by package (% of busy time):",
    "",
    "| Package | Self ms | % |",
    "| --- | ---: | ---: |",
    ...summary.byPackage.slice(0, 12).map((p) => `| ${p.name} | ${p.selfMs.toFixed(1)} | ${p.percent.toFixed(1)} |`),
  ];
  return lines.join("\n");
}
