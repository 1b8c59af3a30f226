import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./support/app.js";
import { backends } from "./support/backends.js";

// Kraken's published documents, verbatim (whitespace included): a client written against
// Kraken's metadata API must work against us with only its URL and token changed.

/** ../shared/seeds/003: the example client's mutation and variables. */
const KRAKEN_MUTATION = `
mutation updateMetadata($input: MetadataInput!) {
     updateMetadata(input: $input) {
         metadata {
            key
            value
         }
     }
}
`;
const KRAKEN_VARIABLES = {
  input: {
    linkedObjectType: "ACCOUNT",
    identifier: "A-154321",
    key: "some_unique_key",
    value: JSON.stringify({ pet_type: "dog", name: "fang" }),
  },
};
/** The seed's Python client sends json.dumps(), which puts a space after ':' and ','. */
const PYTHON_JSON_DUMPS = '{"pet_type": "dog", "name": "fang"}';

/** Kraken's reference examples for the `metadata` and `metadataForKey` queries. */
const KRAKEN_METADATA_QUERY =
  "query Metadata( $identifier: String!, $linkedObjectType: LinkedObjectType ) { metadata( identifier: $identifier, linkedObjectType: $linkedObjectType ) { key value } }";
const KRAKEN_METADATA_FOR_KEY_QUERY = `query MetadataForKey(
$identifier: String!,
$key: String!,
$linkedObjectType: LinkedObjectType
) {
metadataForKey(
identifier: $identifier,
key: $key,
linkedObjectType: $linkedObjectType
) {
key
value
}
}`;

describe.each(backends)("Kraken clients on $name", (backend) => {
  let t: TestApp;
  let authorization: string;

  beforeAll(async () => {
    t = await createTestApp(backend);
    // An account user of A-154321, as Kraken issues them; Kraken's examples send "JWT <token>".
    const token = await t.token({
      sub: "user-1",
      email: "some.test@email.com",
      accounts: ["A-154321"],
      scope: "metadata.read metadata.write",
    });
    authorization = `JWT ${token}`;
  });
  afterAll(() => t.close());

  it("runs the seed's updateMetadata mutation verbatim and returns the value exactly as sent", async () => {
    const result = await t.execute({ document: KRAKEN_MUTATION, variables: KRAKEN_VARIABLES, authorization });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      data: { updateMetadata: { metadata: { key: "some_unique_key", value: '{"pet_type":"dog","name":"fang"}' } } },
    });
  });

  it("keeps Python's json.dumps spacing byte for byte, for ACCOUNT and ACCOUNT_USER", async () => {
    for (const [linkedObjectType, identifier] of [
      ["ACCOUNT", "A-154321"],
      ["ACCOUNT_USER", "some.test@email.com"],
    ]) {
      const variables = {
        input: { ...KRAKEN_VARIABLES.input, linkedObjectType, identifier, value: PYTHON_JSON_DUMPS },
      };
      const result = await t.execute({ document: KRAKEN_MUTATION, variables, authorization });
      expect(result.body).toEqual({
        data: { updateMetadata: { metadata: { key: "some_unique_key", value: PYTHON_JSON_DUMPS } } },
      });
    }
  });

  it("answers Kraken's metadata query verbatim, defaulting linkedObjectType to ACCOUNT", async () => {
    const withType = await t.execute({
      document: KRAKEN_METADATA_QUERY,
      variables: { identifier: "A-154321", linkedObjectType: "ACCOUNT" },
      authorization,
    });
    expect(withType.body).toEqual({ data: { metadata: [{ key: "some_unique_key", value: PYTHON_JSON_DUMPS }] } });
    const withoutType = await t.execute({
      document: KRAKEN_METADATA_QUERY,
      variables: { identifier: "A-154321" },
      authorization,
    });
    expect(withoutType.body).toEqual(withType.body);
  });

  it("answers Kraken's metadataForKey query verbatim, and NOT_FOUND for a missing key", async () => {
    const found = await t.execute({
      document: KRAKEN_METADATA_FOR_KEY_QUERY,
      variables: { identifier: "some.test@email.com", key: "some_unique_key", linkedObjectType: "ACCOUNT_USER" },
      authorization,
    });
    expect(found.body).toEqual({ data: { metadataForKey: { key: "some_unique_key", value: PYTHON_JSON_DUMPS } } });
    const missing = await t.execute({
      document: KRAKEN_METADATA_FOR_KEY_QUERY,
      variables: { identifier: "A-154321", key: "no_such_key" },
      authorization,
    });
    expect(missing.body.data).toEqual({ metadataForKey: null });
    expect(missing.body.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(missing.body.errors?.[0]?.path).toEqual(["metadataForKey"]);
  });

  it("answers the seed's typo'd linkedObjectType ACCOUNT_NUMBER with a coded error, writing nothing", async () => {
    const before = await t.db.prisma.metadata.count();
    const variables = { input: { ...KRAKEN_VARIABLES.input, linkedObjectType: "ACCOUNT_NUMBER" } };
    const result = await t.execute({ document: KRAKEN_MUTATION, variables, authorization });
    expect(result.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(result.body.errors?.[0]?.message).toContain("ACCOUNT_NUMBER");
    expect(await t.db.prisma.metadata.count()).toBe(before);
  });
});
