import { GraphQLClient } from "graphql-request";
import { graphql } from "./gql/index.js";

// A typed client for metadata-graph: sets, reads, lists (page by page) and deletes entries.
// The operations below are typed by GraphQL Code Generator's client preset (`npm run codegen`
// writes ./gql/ from schema.graphql): a wrong field or variable fails `tsc`, not the request.

const SetEntry = graphql(`
  mutation SetEntry($input: MetadataInput!) {
    updateMetadata(input: $input) {
      metadata {
        key
        value
        version
      }
    }
  }
`);

const ReadEntry = graphql(`
  query ReadEntry($linkedObjectType: LinkedObjectType, $identifier: String!, $key: String!) {
    metadataForKey(linkedObjectType: $linkedObjectType, identifier: $identifier, key: $key) {
      key
      value
      jsonValue
      version
    }
  }
`);

const ListEntries = graphql(`
  query ListEntries(
    $linkedObjectType: LinkedObjectType!
    $identifier: String!
    $keyPrefix: String
    $first: Int
    $after: String
  ) {
    metadataList(
      linkedObjectType: $linkedObjectType
      identifier: $identifier
      keyPrefix: $keyPrefix
      first: $first
      after: $after
    ) {
      totalCount
      edges {
        node {
          key
          value
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

const DeleteEntry = graphql(`
  mutation DeleteEntry($input: DeleteMetadataInput!) {
    deleteMetadata(input: $input) {
      metadata {
        key
        version
      }
    }
  }
`);

const url = process.env.METADATA_GRAPH_URL ?? "http://localhost:4000/graphql";
const token = process.env.METADATA_GRAPH_TOKEN;
if (!token) {
  console.error("Set METADATA_GRAPH_TOKEN: the token `npm start` prints in dev mode, or one from `npm run token`.");
  process.exit(2);
}

const client = new GraphQLClient(url, { headers: { Authorization: `Bearer ${token}` } });
const account = { linkedObjectType: "ACCOUNT", identifier: "A-154321" } as const;
// A prefix of our own: the listing and the clean-up leave the account's other entries alone.
const prefix = "ts-example.";
const entries: Record<string, string> = {
  [`${prefix}color`]: "blue",
  [`${prefix}pet`]: JSON.stringify({ pet_type: "dog", name: "fang" }),
  [`${prefix}size`]: "large",
};

for (const [key, value] of Object.entries(entries)) {
  const { updateMetadata } = await client.request(SetEntry, { input: { ...account, key, value } });
  const { metadata } = updateMetadata;
  console.log(`set ${metadata.key} = ${metadata.value} (version ${metadata.version})`);
}

const { metadataForKey: pet } = await client.request(ReadEntry, { ...account, key: `${prefix}pet` });
console.log(`read ${pet?.key} = ${pet?.value} (jsonValue ${JSON.stringify(pet?.jsonValue)}, version ${pet?.version})`);

// Two entries a page, to show the paging: `after` is the previous page's endCursor.
let after: string | null | undefined;
let page = 0;
do {
  const { metadataList } = await client.request(ListEntries, { ...account, keyPrefix: prefix, first: 2, after });
  page += 1;
  const keys = metadataList.edges.map((edge) => edge.node.key).join(", ");
  console.log(`list page ${page}: ${keys} (${metadataList.totalCount} in all)`);
  after = metadataList.pageInfo.hasNextPage ? metadataList.pageInfo.endCursor : undefined;
} while (after);

for (const key of Object.keys(entries)) {
  const { deleteMetadata } = await client.request(DeleteEntry, { input: { ...account, key } });
  console.log(`deleted ${deleteMetadata.metadata.key} (was version ${deleteMetadata.metadata.version})`);
}
