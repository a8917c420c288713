"""Request and response models of the API (they make the OpenAPI document)."""
