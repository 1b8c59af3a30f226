import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Each file opens its own databases (and sometimes a server process): forks keep them apart.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
