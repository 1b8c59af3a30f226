import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, chromium, type Page, type Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import {
  dataDirWithEmptyCluster,
  graphql,
  killLeftovers,
  REPO_ROOT,
  removeTempDirs,
  type ServerProcess,
  startServer,
} from "./support/process.js";

// GraphiQL as a person meets it: `npm start` in dev mode, the page in a real (headless) browser,
// one click on Run. Debian's Chromium through playwright-core: no browser download, which this
// machine's network would refuse anyway (.ci/run installs the package).

const CHROMIUM = "/usr/bin/chromium";
const HAS_CHROMIUM = existsSync(CHROMIUM);
/** Git-ignored: screenshots for a person to look at after a run. */
const ARTIFACTS = join(REPO_ROOT, "test-artifacts");
const SCREENSHOT = join(ARTIFACTS, "graphiql-kraken-mutation.png");

/** The seed's value (Python's json.dumps spacing) as a JSON editor shows it. */
const KRAKEN_VALUE_AS_JSON = String.raw`"value": "{\"pet_type\": \"dog\", \"name\": \"fang\"}"`;

/** An editor's text as shown: Monaco renders spaces as no-break spaces (one element per line, no newlines). */
const screenText = (text: string | null) => (text ?? "").replace(/\u00a0/g, " ");

let server: ServerProcess;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  [server, browser] = await Promise.all([
    dataDirWithEmptyCluster().then((dataDir) => startServer({ DATA_DIR: dataDir })),
    chromium.launch({ executablePath: CHROMIUM, headless: true }),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await killLeftovers();
  await removeTempDirs();
});

/** The browser and the dev token; the test is skipped without Chromium. */
function browserAndToken(ctx: TestContext): { browser: Browser; token: string } {
  ctx.skip(!HAS_CHROMIUM, `no ${CHROMIUM}: install Debian's chromium package (.ci/run does) to run this test`);
  if (!browser) throw new Error("the browser did not start");
  const token = server.devToken;
  if (!token) throw new Error(`no dev token printed:\n${server.stdout()}`);
  return { browser, token };
}

/** GraphiQL, once its first example tab (Kraken's mutation) is in the query editor; returns that editor. */
async function openGraphiQL(page: Page) {
  await page.goto(`${server.origin}/graphql`);
  const queryEditor = page.locator(".graphiql-query-editor .view-lines");
  await queryEditor.getByText("updateMetadata(input: $input)").waitFor({ timeout: 30_000 });
  return queryEditor;
}

describe("GraphiQL in headless Chromium (dev mode)", () => {
  it("opens on Kraken's mutation with the dev token, runs it with one click and shows the stored value", async (ctx) => {
    const { browser, token } = browserAndToken(ctx);

    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    // GraphiQL must come whole from the npm package: anything not asked of our server is refused
    // and remembered (a CDN script, a web font…), so the page works offline and the test says so.
    const offSite: string[] = [];
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === server.origin) return route.continue();
      offSite.push(url);
      return route.abort("blockedbyclient");
    });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));

    await openGraphiQL(page);

    // The example tabs, Kraken's mutation first and active, its variables in the Variables pane.
    await expect
      .poll(() => page.locator(".graphiql-tab-button").allTextContents())
      .toEqual(["updateMetadata", "Metadata", "MetadataForKey", "MetadataList"]);
    expect(await page.locator(".graphiql-tab-active .graphiql-tab-button").textContent()).toBe("updateMetadata");
    const variablesPane = page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .view-lines");
    const variablesShown = screenText(await variablesPane.textContent());
    expect(variablesShown).toContain('"identifier": "A-154321"');
    expect(variablesShown).toContain(KRAKEN_VALUE_AS_JSON);

    const sent = page.waitForRequest(
      (request: Request) => request.method() === "POST" && (request.postData() ?? "").includes("updateMetadata"),
    );
    await page.locator(".graphiql-execute-button").click();
    const request = await sent;
    // The dev token from the pre-filled headers editor went with it.
    expect((await request.allHeaders()).authorization).toBe(`Bearer ${token}`);

    // The response pane shows the value exactly as Kraken's client sent it.
    const responsePane = page.locator(".graphiql-response .view-lines");
    await expect
      .poll(async () => screenText(await responsePane.textContent()), { timeout: 15_000 })
      .toContain(KRAKEN_VALUE_AS_JSON);
    const shown = screenText(await responsePane.textContent());
    expect(shown).toContain('"key": "some_unique_key"');
    expect(shown).not.toContain('"errors"');

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    await ctx.annotate(`screenshot: ${SCREENSHOT}`);

    expect(offSite, "GraphiQL asked for something off our server").toEqual([]);
    expect(pageErrors).toEqual([]);
    await context.close();

    // And it is really stored, as Kraken's docs say it returns.
    const stored = await graphql<{ metadataForKey: { value: string } }>(
      server.origin,
      'query { metadataForKey(identifier: "A-154321", key: "some_unique_key") { value } }',
      { authorization: `Bearer ${token}` },
    );
    expect(stored.body.data?.metadataForKey.value).toBe('{"pet_type": "dog", "name": "fang"}');
  }, 60_000);

  it("runs a metadataChanged subscription typed into the editor and shows a change another client makes", async (ctx) => {
    const { browser, token } = browserAndToken(ctx);
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    const queryEditor = await openGraphiQL(page);

    // A subscription as a person types it: the example tab's text replaced (insertText: no auto-closed brackets).
    await queryEditor.click();
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.insertText(
      'subscription Live { metadataChanged(identifier: "A-live", linkedObjectType: ACCOUNT) { operation sequence metadata { key value } } }',
    );
    // GraphiQL takes the edit in after a debounce: the tab is named after the operation then.
    await expect.poll(() => page.locator(".graphiql-tab-active .graphiql-tab-button").textContent()).toBe("Live");
    // Sent as GET or POST, depending on the GraphiQL fetcher: either names the operation.
    const subscribed = page.waitForRequest((request: Request) =>
      `${request.url()} ${request.postData() ?? ""}`.includes("metadataChanged"),
    );
    await page.locator(".graphiql-execute-button").click();
    expect((await (await subscribed).allHeaders()).authorization).toBe(`Bearer ${token}`);

    // Another client writes; GraphiQL shows the change as it arrives (Server-Sent Events). The
    // first writes may land before the stream is open: write until one shows.
    const responsePane = page.locator(".graphiql-response .view-lines");
    let shown = "";
    for (let attempt = 1; !shown.includes('"value": "from another client'); attempt++) {
      if (attempt > 20) throw new Error(`no change shown; the response pane says:\n${shown}`);
      const written = await graphql(
        server.origin,
        `mutation { updateMetadata(input: {linkedObjectType: ACCOUNT, identifier: "A-live", key: "note", value: "from another client ${attempt}"}) { metadata { version } } }`,
        { authorization: `Bearer ${token}` },
      );
      expect(written.body.errors).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 500));
      shown = screenText(await responsePane.textContent());
    }
    expect(shown).toMatch(/"operation": "(CREATED|UPDATED)"/);
    expect(shown).toContain('"key": "note"');
    expect(shown).not.toContain('"errors"');
    await page.screenshot({ path: join(ARTIFACTS, "graphiql-subscription.png") });
    expect(pageErrors).toEqual([]);
    await context.close();
  }, 60_000);
});
