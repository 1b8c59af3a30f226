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
    sequence
    resourceOwner
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

export const MetadataHistory = graphql(`
  query MetadataHistory(
    $linkedObjectType: LinkedObjectType!
    $identifier: String!
    $key: String
    $namespace: String
    $first: Int
    $after: String
  ) {
    metadataHistory(
      linkedObjectType: $linkedObjectType
      identifier: $identifier
      key: $key
      namespace: $namespace
      first: $first
      after: $after
    ) {
      edges {
        cursor
        node {
          sequence
          operation
          key
          namespace
          linkedObjectType
          identifier
          oldVersion
          newVersion
          value
          actor
          occurredAt
          resourceOwner
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

export const ListMetadataFiltered = graphql(`
  query ListMetadataFiltered(
    $linkedObjectType: LinkedObjectType!
    $identifier: String!
    $namespace: String
    $keyPrefix: String
    $keys: [String!]
    $createdAfter: DateTime
    $createdBefore: DateTime
    $updatedAfter: DateTime
    $updatedBefore: DateTime
    $orderBy: MetadataOrder
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
      keys: $keys
      createdAfter: $createdAfter
      createdBefore: $createdBefore
      updatedAfter: $updatedAfter
      updatedBefore: $updatedBefore
      orderBy: $orderBy
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
          createdAt
          updatedAt
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

export const SearchMetadata = graphql(`
  query SearchMetadata(
    $linkedObjectType: LinkedObjectType!
    $key: String!
    $namespace: String
    $valueEquals: String
    $jsonContains: JSON
    $first: Int
    $after: String
    $last: Int
    $before: String
  ) {
    metadataSearch(
      linkedObjectType: $linkedObjectType
      key: $key
      namespace: $namespace
      valueEquals: $valueEquals
      jsonContains: $jsonContains
      first: $first
      after: $after
      last: $last
      before: $before
    ) {
      totalCount
      edges {
        cursor
        node {
          identifier
          linkedObjectType
          namespace
          key
          value
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

export const DefinitionFields = graphql(`
  fragment DefinitionFields on MetadataDefinition {
    namespace
    key
    linkedObjectTypes
    title
    description
    type
    maxLength
    pattern
    allowedValues
    jsonSchema
    version
    createdAt
    updatedAt
  }
`);

export const DefineMetadata = graphql(`
  mutation DefineMetadata($input: MetadataDefinitionInput!) {
    defineMetadata(input: $input) {
      definition {
        ...DefinitionFields
      }
    }
  }
`);

export const RemoveMetadataDefinition = graphql(`
  mutation RemoveMetadataDefinition($input: RemoveMetadataDefinitionInput!) {
    removeMetadataDefinition(input: $input) {
      definition {
        ...DefinitionFields
      }
    }
  }
`);

export const ListMetadataDefinitions = graphql(`
  query ListMetadataDefinitions($first: Int, $after: String, $last: Int, $before: String) {
    metadataDefinitions(first: $first, after: $after, last: $last, before: $before) {
      totalCount
      edges {
        cursor
        node {
          namespace
          key
          type
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

export const GetMetadataWithDefinitions = graphql(`
  query GetMetadataWithDefinitions($identifier: String!, $linkedObjectType: LinkedObjectType, $namespace: String) {
    metadata(identifier: $identifier, linkedObjectType: $linkedObjectType, namespace: $namespace) {
      key
      value
      definition {
        key
        type
        version
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
