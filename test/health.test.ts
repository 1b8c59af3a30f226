import { describe, expect, it } from "vitest";
import { createTestApp } from "./support/app.js";
import { backends } from "./support/backends.js";

describe.each(backends)("GET /health on $name", (backend) => {
  it("answers 200 while the database answers, 503 with a reason once it does not", async () => {
    const t = await createTestApp(backend);
    const health = async () => {
      const response = await t.app.yoga.fetch("http://yoga/health");
      return { status: response.status, body: await response.json() };
    };
    try {
      expect(await health()).toEqual({ status: 200, body: { status: "ok" } });
      await t.db.close();
      expect(await health()).toEqual({
        status: 503,
        body: { status: "unavailable", reason: "database unreachable" },
      });
    } finally {
      await t.close().catch(() => {});
    }
  });
});
