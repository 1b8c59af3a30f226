import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships ESM (`module`) and CJS (`main`) builds without an exports map: Vite picks the
    // ESM one for our sources, Node the CJS one for Pothos and Yoga. One copy keeps instanceof working.
    alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    // Builds dist/ first: process tests run the service as `npm start` does (compiled, plain node).
    globalSetup: ["test/support/build.ts"],
    // Each file opens its own databases (and sometimes a server process): forks keep them apart.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
