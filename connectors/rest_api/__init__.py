"""The `rest_api` source type: JSON REST endpoints through dlt's declarative REST source."""

from connectors.rest_api.connector import RestApiConnector

CONNECTOR = RestApiConnector

__all__ = ["CONNECTOR", "RestApiConnector"]
