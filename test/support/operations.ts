import { graphql } from "../gql/index.js";

// The typed operations the tests send; `npm run codegen` types them against schema.graphql.

export const EntryFields = graphql(`
  fragment EntryFields on Metadata {
    key
    value
    jsonValue
    namespace
    linkedObjectType
    identifier
    version
    createdAt
    updatedAt
    expiresAt
  }
`);

export const UpdateMetadata = graphql(`
  mutation UpdateMetadata($input: MetadataInput!) {
    updateMetadata(input: $input) {
      metadata {
        ...EntryFields
      }
    }
  }
`);

export const DeleteMetadata = graphql(`
  mutation DeleteMetadata($input: DeleteMetadataInput!) {
    deleteMetadata(input: $input) {
      metadata {
        ...EntryFields
      }
    }
  }
`);

export const SetMetadata = graphql(`
  mutation SetMetadata($input: SetMetadataInput!) {
    setMetadata(input: $input) {
      metadata {
        ...EntryFields
      }
      removedKeys
    }
  }
`);

export const DeleteMetadataKeys = graphql(`
  mutation DeleteMetadataKeys($input: DeleteMetadataKeysInput!) {
    deleteMetadataKeys(input: $input) {
      metadata {
        ...EntryFields
      }
      removedKeys
    }
  }
`);

export const GetMetadata = graphql(`
  query GetMetadata($identifier: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {
    metadata(identifier: $identifier, linkedObjectType: $linkedObjectType, namespace: $namespace) {
      ...EntryFields
    }
  }
`);

export const GetMetadataForKey = graphql(`
  query GetMetadataForKey($identifier: String!, $key: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {
    metadataForKey(identifier: $identifier, key: $key, linkedObjectType: $linkedObjectType, namespace: $namespace) {
      ...EntryFields
    }
  }
`);

export const ListMetadata = graphql(`
  query ListMetadata(
    $linkedObjectType: LinkedObjectType!
    $identifier: String!
    $namespace: String
    $keyPrefix: String
    $first: Int
    $after: String
    $last: Int
    $before: String
  ) {
    metadataList(
      linkedObjectType: $linkedObjectType
      identifier: $identifier
      namespace: $namespace
      keyPrefix: $keyPrefix
      first: $first
      after: $after
      last: $last
      before: $before
    ) {
      totalCount
      edges {
        cursor
        node {
          key
          value
          version
        }
      }
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
    }
  }
`);

export const MetadataChanged = graphql(`
  subscription MetadataChanged($linkedObjectType: LinkedObjectType!, $identifier: String!, $namespace: String) {
    metadataChanged(linkedObjectType: $linkedObjectType, identifier: $identifier, namespace: $namespace) {
      operation
      sequence
      metadata {
        ...EntryFields
      }
    }
  }
`);
