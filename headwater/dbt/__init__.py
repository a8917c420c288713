"""dbt in the platform: the generated profile, the in-process runner, generated sources."""
