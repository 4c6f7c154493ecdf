"""Target-databricks: any Singer stream into Unity Catalog Delta tables or local Delta Lake."""
