"""Target-databricks: any Singer stream into Unity Catalog Delta tables or local Delta Lake."""

import os

# Arrow's allocator, chosen when pyarrow loads: the C library's returns freed buffers to the system
# sooner than Arrow's default (mimalloc), which kept 30-60 MiB more resident per 100k-row batch.
# A pool the user chose stays.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
