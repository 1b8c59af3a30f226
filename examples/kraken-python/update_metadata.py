import json

import os

import pprint

import requests

# Kraken's example client ("Add metadata for account"), verbatim but for API_URL and JWT_TOKEN,
# which come from the environment: pointing a Kraken client at metadata-graph changes nothing else.
# API_URL = "https://api.oeus-kraken.energy/v1/graphql/" # prod
# API_URL = "https://api.oeus-kraken.systems/v1/graphql/" # test
API_URL = os.environ["METADATA_GRAPH_URL"]  # e.g. http://localhost:4000/graphql
JWT_TOKEN = os.environ["METADATA_GRAPH_TOKEN"]
HEADERS = {
    "Authorization": f"JWT {JWT_TOKEN}"
}

MUTATION = """
mutation updateMetadata($input: MetadataInput!) {
     updateMetadata(input: $input) {
         metadata {
            key
            value
         }
     }
}
"""

VARIABLES = {
    "input": {
        "linkedObjectType": "ACCOUNT",
        "identifier": "A-154321",
        "key": "some_unique_key",
        "value": json.dumps({"pet_type": "dog", "name": "fang"})
    }
}

session = requests.Session()
session.headers.update(HEADERS)
response = session.post(
    url=API_URL,
    json={"query": MUTATION, "variables": VARIABLES}
)
pprint.pprint(response.json())
