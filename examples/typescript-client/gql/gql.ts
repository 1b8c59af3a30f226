/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation SetEntry($input: MetadataInput!) {\n    updateMetadata(input: $input) {\n      metadata {\n        key\n        value\n        version\n      }\n    }\n  }\n": typeof types.SetEntryDocument,
    "\n  query ReadEntry($linkedObjectType: LinkedObjectType, $identifier: String!, $key: String!) {\n    metadataForKey(linkedObjectType: $linkedObjectType, identifier: $identifier, key: $key) {\n      key\n      value\n      jsonValue\n      version\n    }\n  }\n": typeof types.ReadEntryDocument,
    "\n  query ListEntries(\n    $linkedObjectType: LinkedObjectType!\n    $identifier: String!\n    $keyPrefix: String\n    $first: Int\n    $after: String\n  ) {\n    metadataList(\n      linkedObjectType: $linkedObjectType\n      identifier: $identifier\n      keyPrefix: $keyPrefix\n      first: $first\n      after: $after\n    ) {\n      totalCount\n      edges {\n        node {\n          key\n          value\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": typeof types.ListEntriesDocument,
    "\n  mutation DeleteEntry($input: DeleteMetadataInput!) {\n    deleteMetadata(input: $input) {\n      metadata {\n        key\n        version\n      }\n    }\n  }\n": typeof types.DeleteEntryDocument,
};
const documents: Documents = {
    "\n  mutation SetEntry($input: MetadataInput!) {\n    updateMetadata(input: $input) {\n      metadata {\n        key\n        value\n        version\n      }\n    }\n  }\n": types.SetEntryDocument,
    "\n  query ReadEntry($linkedObjectType: LinkedObjectType, $identifier: String!, $key: String!) {\n    metadataForKey(linkedObjectType: $linkedObjectType, identifier: $identifier, key: $key) {\n      key\n      value\n      jsonValue\n      version\n    }\n  }\n": types.ReadEntryDocument,
    "\n  query ListEntries(\n    $linkedObjectType: LinkedObjectType!\n    $identifier: String!\n    $keyPrefix: String\n    $first: Int\n    $after: String\n  ) {\n    metadataList(\n      linkedObjectType: $linkedObjectType\n      identifier: $identifier\n      keyPrefix: $keyPrefix\n      first: $first\n      after: $after\n    ) {\n      totalCount\n      edges {\n        node {\n          key\n          value\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": types.ListEntriesDocument,
    "\n  mutation DeleteEntry($input: DeleteMetadataInput!) {\n    deleteMetadata(input: $input) {\n      metadata {\n        key\n        version\n      }\n    }\n  }\n": types.DeleteEntryDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetEntry($input: MetadataInput!) {\n    updateMetadata(input: $input) {\n      metadata {\n        key\n        value\n        version\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SetEntry($input: MetadataInput!) {\n    updateMetadata(input: $input) {\n      metadata {\n        key\n        value\n        version\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ReadEntry($linkedObjectType: LinkedObjectType, $identifier: String!, $key: String!) {\n    metadataForKey(linkedObjectType: $linkedObjectType, identifier: $identifier, key: $key) {\n      key\n      value\n      jsonValue\n      version\n    }\n  }\n"): (typeof documents)["\n  query ReadEntry($linkedObjectType: LinkedObjectType, $identifier: String!, $key: String!) {\n    metadataForKey(linkedObjectType: $linkedObjectType, identifier: $identifier, key: $key) {\n      key\n      value\n      jsonValue\n      version\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ListEntries(\n    $linkedObjectType: LinkedObjectType!\n    $identifier: String!\n    $keyPrefix: String\n    $first: Int\n    $after: String\n  ) {\n    metadataList(\n      linkedObjectType: $linkedObjectType\n      identifier: $identifier\n      keyPrefix: $keyPrefix\n      first: $first\n      after: $after\n    ) {\n      totalCount\n      edges {\n        node {\n          key\n          value\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query ListEntries(\n    $linkedObjectType: LinkedObjectType!\n    $identifier: String!\n    $keyPrefix: String\n    $first: Int\n    $after: String\n  ) {\n    metadataList(\n      linkedObjectType: $linkedObjectType\n      identifier: $identifier\n      keyPrefix: $keyPrefix\n      first: $first\n      after: $after\n    ) {\n      totalCount\n      edges {\n        node {\n          key\n          value\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteEntry($input: DeleteMetadataInput!) {\n    deleteMetadata(input: $input) {\n      metadata {\n        key\n        version\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation DeleteEntry($input: DeleteMetadataInput!) {\n    deleteMetadata(input: $input) {\n      metadata {\n        key\n        version\n      }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;