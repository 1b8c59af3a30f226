import { execFileSync } from "node:child_process";
import { REPO_ROOT } from "./process.js";

/**
 * Vitest global setup: builds dist/ once per run (`npm run build`), so that the tests that spawn the
 * service run the code `npm start` runs, from the sources under test.
 */
export default function buildDist(): void {
  execFileSync(process.execPath, ["--import", "tsx", "scripts/build.ts"], { cwd: REPO_ROOT, stdio: "ignore" });
}
