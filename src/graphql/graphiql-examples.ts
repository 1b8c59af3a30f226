import type { GraphiQLOptions } from "graphql-yoga";

// The tabs GraphiQL opens with: Kraken's documented operations first, so that someone coming from
// Kraken's docs (../shared/seeds/003) recognises them and can run one with a click.

/** Kraken's `updateMetadata` example mutation, verbatim from its docs (indentation included). */
export const KRAKEN_UPDATE_METADATA = `mutation updateMetadata($input: MetadataInput!) {
     updateMetadata(input: $input) {
         metadata {
            key
            value
         }
     }
}`;

/**
 * The docs' variables for that mutation ("Add metadata for account"). Their block is not JSON
 * (no outer braces, the value's quotes unescaped), so this is what their Python client sends:
 * `json.dumps({"pet_type": "dog", "name": "fang"})` is the value.
 */
export const KRAKEN_UPDATE_METADATA_VARIABLES = {
  input: {
    linkedObjectType: "ACCOUNT",
    identifier: "A-154321",
    key: "some_unique_key",
    value: '{"pet_type": "dog", "name": "fang"}',
  },
};

/** Kraken's `metadata` query: every entry of one object. */
export const KRAKEN_METADATA = `# Kraken's metadata query: every entry of one object, ordered by key.
# linkedObjectType may be omitted: it defaults to ACCOUNT, as in Kraken.
query Metadata($identifier: String!, $linkedObjectType: LinkedObjectType) {
  metadata(identifier: $identifier, linkedObjectType: $linkedObjectType) {
    key
    value
  }
}`;

/** Kraken's `metadataForKey` query: one entry, NOT_FOUND when absent. */
export const KRAKEN_METADATA_FOR_KEY = `# Kraken's metadataForKey query: one entry; a NOT_FOUND error when it does not exist.
query MetadataForKey($identifier: String!, $key: String!, $linkedObjectType: LinkedObjectType) {
  metadataForKey(identifier: $identifier, key: $key, linkedObjectType: $linkedObjectType) {
    key
    value
  }
}`;

/** metadataList with Relay paging. */
export const METADATA_LIST = `# Paged listing, ordered by key. For the next page, set "after" to pageInfo.endCursor.
query MetadataList($linkedObjectType: LinkedObjectType!, $identifier: String!, $first: Int, $after: String) {
  metadataList(linkedObjectType: $linkedObjectType, identifier: $identifier, first: $first, after: $after) {
    totalCount
    edges {
      cursor
      node {
        key
        value
        version
        updatedAt
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}`;

const ACCOUNT = { identifier: "A-154321", linkedObjectType: "ACCOUNT" };

/** GraphiQL's opening tabs, in order: the operation and its variables. */
export const GRAPHIQL_EXAMPLES: readonly { query: string; variables: Record<string, unknown> }[] = [
  { query: KRAKEN_UPDATE_METADATA, variables: KRAKEN_UPDATE_METADATA_VARIABLES },
  { query: KRAKEN_METADATA, variables: ACCOUNT },
  { query: KRAKEN_METADATA_FOR_KEY, variables: { ...ACCOUNT, key: "some_unique_key" } },
  { query: METADATA_LIST, variables: { ...ACCOUNT, first: 10, after: null } },
];

/**
 * GraphiQL's options: the example tabs, and in dev mode the token in every tab's headers and in new
 * tabs'. GraphiQL uses `defaultTabs` only when the browser has no tabs stored from an earlier visit.
 */
export function graphiqlOptions(token?: string): GraphiQLOptions {
  const headers = token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : undefined;
  return {
    title: "metadata-graph",
    // Yoga hands `headers` to GraphiQL as the headers of tabs opened later ("+").
    headers,
    // Otherwise GraphiQL opens the Headers pane whenever there are headers, hiding the variables
    // the examples need.
    defaultEditorToolsVisibility: "variables",
    defaultTabs: GRAPHIQL_EXAMPLES.map(({ query, variables }) => ({
      query,
      variables: JSON.stringify(variables, null, 2),
      headers: headers ?? null,
    })),
  };
}

/**
 * Yoga's GraphiQL page, with one repair: GraphiQL 5 fills the first tab's variables editor from its
 * initial (or last stored) variables instead of from the tab (graphql/graphiql#3392), so on a first
 * visit Kraken's mutation would run without its variables. A browser with no stored tabs gets the
 * first tab's variables stored where GraphiQL reads them; later visits keep what the user left.
 */
export async function renderGraphiQLWithExamples(options: GraphiQLOptions): Promise<string> {
  // Loaded on the first GraphiQL page view: the bundle costs ~70 MB of memory.
  const { renderGraphiQL } = await import("@graphql-yoga/render-graphiql");
  const html = renderGraphiQL(options);
  const variables = options.defaultTabs?.[0]?.variables;
  if (!variables) return html;
  // A JS string literal that cannot end the <script> element.
  const literal = JSON.stringify(variables).replace(/</g, "\\u003c");
  const script = `<script>
        try {
          if (localStorage.getItem("graphiql:tabState") === null) localStorage.setItem("graphiql:variables", ${literal});
        } catch {}
      </script>`;
  // Before GraphiQL's own script, which reads the storage as it starts.
  return html.replace('<div id="root"></div>', `<div id="root"></div>\n      ${script}`);
}
