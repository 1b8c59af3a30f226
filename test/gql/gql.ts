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
    "\n  fragment EntryFields on Metadata {\n    key\n    value\n    jsonValue\n    namespace\n    linkedObjectType\n    identifier\n    version\n    createdAt\n    updatedAt\n    expiresAt\n  }\n": typeof types.EntryFieldsFragmentDoc,
    "\n  mutation UpdateMetadata($input: MetadataInput!) {\n    updateMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n": typeof types.UpdateMetadataDocument,
    "\n  mutation DeleteMetadata($input: DeleteMetadataInput!) {\n    deleteMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n": typeof types.DeleteMetadataDocument,
    "\n  mutation SetMetadata($input: SetMetadataInput!) {\n    setMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n      removedKeys\n    }\n  }\n": typeof types.SetMetadataDocument,
    "\n  mutation DeleteMetadataKeys($input: DeleteMetadataKeysInput!) {\n    deleteMetadataKeys(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n      removedKeys\n    }\n  }\n": typeof types.DeleteMetadataKeysDocument,
    "\n  query GetMetadata($identifier: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {\n    metadata(identifier: $identifier, linkedObjectType: $linkedObjectType, namespace: $namespace) {\n      ...EntryFields\n    }\n  }\n": typeof types.GetMetadataDocument,
    "\n  query GetMetadataForKey($identifier: String!, $key: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {\n    metadataForKey(identifier: $identifier, key: $key, linkedObjectType: $linkedObjectType, namespace: $namespace) {\n      ...EntryFields\n    }\n  }\n": typeof types.GetMetadataForKeyDocument,
    "\n  query ListMetadata(\n    $linkedObjectType: LinkedObjectType!\n    $identifier: String!\n    $namespace: String\n    $keyPrefix: String\n    $first: Int\n    $after: String\n    $last: Int\n    $before: String\n  ) {\n    metadataList(\n      linkedObjectType: $linkedObjectType\n      identifier: $identifier\n      namespace: $namespace\n      keyPrefix: $keyPrefix\n      first: $first\n      after: $after\n      last: $last\n      before: $before\n    ) {\n      totalCount\n      edges {\n        cursor\n        node {\n          key\n          value\n          version\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": typeof types.ListMetadataDocument,
    "\n  subscription MetadataChanged($linkedObjectType: LinkedObjectType!, $identifier: String!, $namespace: String) {\n    metadataChanged(linkedObjectType: $linkedObjectType, identifier: $identifier, namespace: $namespace) {\n      operation\n      sequence\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n": typeof types.MetadataChangedDocument,
};
const documents: Documents = {
    "\n  fragment EntryFields on Metadata {\n    key\n    value\n    jsonValue\n    namespace\n    linkedObjectType\n    identifier\n    version\n    createdAt\n    updatedAt\n    expiresAt\n  }\n": types.EntryFieldsFragmentDoc,
    "\n  mutation UpdateMetadata($input: MetadataInput!) {\n    updateMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n": types.UpdateMetadataDocument,
    "\n  mutation DeleteMetadata($input: DeleteMetadataInput!) {\n    deleteMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n": types.DeleteMetadataDocument,
    "\n  mutation SetMetadata($input: SetMetadataInput!) {\n    setMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n      removedKeys\n    }\n  }\n": types.SetMetadataDocument,
    "\n  mutation DeleteMetadataKeys($input: DeleteMetadataKeysInput!) {\n    deleteMetadataKeys(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n      removedKeys\n    }\n  }\n": types.DeleteMetadataKeysDocument,
    "\n  query GetMetadata($identifier: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {\n    metadata(identifier: $identifier, linkedObjectType: $linkedObjectType, namespace: $namespace) {\n      ...EntryFields\n    }\n  }\n": types.GetMetadataDocument,
    "\n  query GetMetadataForKey($identifier: String!, $key: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {\n    metadataForKey(identifier: $identifier, key: $key, linkedObjectType: $linkedObjectType, namespace: $namespace) {\n      ...EntryFields\n    }\n  }\n": types.GetMetadataForKeyDocument,
    "\n  query ListMetadata(\n    $linkedObjectType: LinkedObjectType!\n    $identifier: String!\n    $namespace: String\n    $keyPrefix: String\n    $first: Int\n    $after: String\n    $last: Int\n    $before: String\n  ) {\n    metadataList(\n      linkedObjectType: $linkedObjectType\n      identifier: $identifier\n      namespace: $namespace\n      keyPrefix: $keyPrefix\n      first: $first\n      after: $after\n      last: $last\n      before: $before\n    ) {\n      totalCount\n      edges {\n        cursor\n        node {\n          key\n          value\n          version\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": types.ListMetadataDocument,
    "\n  subscription MetadataChanged($linkedObjectType: LinkedObjectType!, $identifier: String!, $namespace: String) {\n    metadataChanged(linkedObjectType: $linkedObjectType, identifier: $identifier, namespace: $namespace) {\n      operation\n      sequence\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n": types.MetadataChangedDocument,
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
export function graphql(source: "\n  fragment EntryFields on Metadata {\n    key\n    value\n    jsonValue\n    namespace\n    linkedObjectType\n    identifier\n    version\n    createdAt\n    updatedAt\n    expiresAt\n  }\n"): (typeof documents)["\n  fragment EntryFields on Metadata {\n    key\n    value\n    jsonValue\n    namespace\n    linkedObjectType\n    identifier\n    version\n    createdAt\n    updatedAt\n    expiresAt\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateMetadata($input: MetadataInput!) {\n    updateMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation UpdateMetadata($input: MetadataInput!) {\n    updateMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteMetadata($input: DeleteMetadataInput!) {\n    deleteMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation DeleteMetadata($input: DeleteMetadataInput!) {\n    deleteMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetMetadata($input: SetMetadataInput!) {\n    setMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n      removedKeys\n    }\n  }\n"): (typeof documents)["\n  mutation SetMetadata($input: SetMetadataInput!) {\n    setMetadata(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n      removedKeys\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteMetadataKeys($input: DeleteMetadataKeysInput!) {\n    deleteMetadataKeys(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n      removedKeys\n    }\n  }\n"): (typeof documents)["\n  mutation DeleteMetadataKeys($input: DeleteMetadataKeysInput!) {\n    deleteMetadataKeys(input: $input) {\n      metadata {\n        ...EntryFields\n      }\n      removedKeys\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query GetMetadata($identifier: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {\n    metadata(identifier: $identifier, linkedObjectType: $linkedObjectType, namespace: $namespace) {\n      ...EntryFields\n    }\n  }\n"): (typeof documents)["\n  query GetMetadata($identifier: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {\n    metadata(identifier: $identifier, linkedObjectType: $linkedObjectType, namespace: $namespace) {\n      ...EntryFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query GetMetadataForKey($identifier: String!, $key: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {\n    metadataForKey(identifier: $identifier, key: $key, linkedObjectType: $linkedObjectType, namespace: $namespace) {\n      ...EntryFields\n    }\n  }\n"): (typeof documents)["\n  query GetMetadataForKey($identifier: String!, $key: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {\n    metadataForKey(identifier: $identifier, key: $key, linkedObjectType: $linkedObjectType, namespace: $namespace) {\n      ...EntryFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ListMetadata(\n    $linkedObjectType: LinkedObjectType!\n    $identifier: String!\n    $namespace: String\n    $keyPrefix: String\n    $first: Int\n    $after: String\n    $last: Int\n    $before: String\n  ) {\n    metadataList(\n      linkedObjectType: $linkedObjectType\n      identifier: $identifier\n      namespace: $namespace\n      keyPrefix: $keyPrefix\n      first: $first\n      after: $after\n      last: $last\n      before: $before\n    ) {\n      totalCount\n      edges {\n        cursor\n        node {\n          key\n          value\n          version\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query ListMetadata(\n    $linkedObjectType: LinkedObjectType!\n    $identifier: String!\n    $namespace: String\n    $keyPrefix: String\n    $first: Int\n    $after: String\n    $last: Int\n    $before: String\n  ) {\n    metadataList(\n      linkedObjectType: $linkedObjectType\n      identifier: $identifier\n      namespace: $namespace\n      keyPrefix: $keyPrefix\n      first: $first\n      after: $after\n      last: $last\n      before: $before\n    ) {\n      totalCount\n      edges {\n        cursor\n        node {\n          key\n          value\n          version\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription MetadataChanged($linkedObjectType: LinkedObjectType!, $identifier: String!, $namespace: String) {\n    metadataChanged(linkedObjectType: $linkedObjectType, identifier: $identifier, namespace: $namespace) {\n      operation\n      sequence\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription MetadataChanged($linkedObjectType: LinkedObjectType!, $identifier: String!, $namespace: String) {\n    metadataChanged(linkedObjectType: $linkedObjectType, identifier: $identifier, namespace: $namespace) {\n      operation\n      sequence\n      metadata {\n        ...EntryFields\n      }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;