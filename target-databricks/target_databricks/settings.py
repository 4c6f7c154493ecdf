"""The target's settings (one JSON Schema) and the few rules that read them."""

from __future__ import annotations

import dataclasses
import re
import typing as t

from singer_sdk import typing as th

from target_databricks.engines.base import LoadMethod
from target_databricks.errors import SettingsError

DEFAULT_CATALOG = "main"
DEFAULT_SCHEMA = "datev"
DEFAULT_LOCAL_PATH = ".lake"
DEFAULT_BATCH_SIZE_ROWS = 100_000
# 100,000 of tap-datev's booking lines (~3.9 KB each, 144 columns) would hold ~10 times a narrow
# batch's memory: a batch also ends at this much RECORD input.
DEFAULT_BATCH_SIZE_BYTES = 64 * 2**20
DEFAULT_VACUUM_RETENTION_HOURS = 168  # Delta's own safety default
DEFAULT_CREDENTIALS_ENTRY = "databricks"
DEFAULT_STAGING_VOLUME = "_ml_connector_staging"
DEFAULT_LOAD_VIA = "statements"
DEFAULT_JOBS_DIR = "/Shared/ml-connector"
DEFAULT_WAREHOUSE_START_TIMEOUT_SECONDS = 600
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 3600
DEFAULT_POLL_INTERVAL_SECONDS = 2

CONFIG_SCHEMA: dict[str, t.Any] = th.PropertiesList(
    # --- where and how ---------------------------------------------------------------------------
    th.Property(
        "engine",
        th.StringType(allowed_values=["local", "workspace"]),
        default="local",
        description="`local`: Delta tables on disk under local_path (demo, tests). "
        "`workspace`: Unity Catalog tables in a Databricks workspace.",
    ),
    th.Property("catalog", th.StringType, default=DEFAULT_CATALOG, description="Unity Catalog catalog."),
    th.Property(
        "schema",
        th.StringType,
        default=DEFAULT_SCHEMA,
        description="Target schema. Meltano's `default_target_schema`, when set, takes precedence.",
    ),
    th.Property(
        "default_target_schema",
        th.StringType,
        description="Singer/Meltano standard name for the target schema; overrides `schema`.",
    ),
    th.Property(
        "local_path",
        th.StringType,
        default=DEFAULT_LOCAL_PATH,
        description="Root folder of the local engine: <local_path>/<catalog>/<schema>/<table>.",
    ),
    # No default on purpose: unset means upsert for streams with key properties, else append-only
    # (singer-sdk's own default, append-only, would silently duplicate keyed rows on every rerun).
    th.Property(
        "load_method",
        th.StringType(allowed_values=["upsert", "append-only", "overwrite"]),
        description="upsert (ordered MERGE by key), append-only, or overwrite (replace each table once "
        "per run). Unset: upsert when the stream has key properties, else append-only.",
    ),
    th.Property(
        "hard_delete",
        th.BooleanType,
        default=False,
        description="ACTIVATE_VERSION deletes rows of older table versions instead of setting "
        "_sdc_deleted_at.",
    ),
    th.Property(
        "batch_size_rows",
        th.IntegerType,
        default=DEFAULT_BATCH_SIZE_ROWS,
        description="Rows per batch (one staged Parquet file and one commit per batch and stream).",
    ),
    th.Property(
        "batch_size_bytes",
        th.IntegerType(minimum=1),
        default=DEFAULT_BATCH_SIZE_BYTES,
        description="A batch of RECORD messages also ends at this much input (64 MiB: about 17,000 of "
        "tap-datev's ~4 KB booking lines); bounds the target's memory on wide records. Larger: fewer "
        "commits and statements, more memory.",
    ),
    th.Property(
        "validate_records",
        th.BooleanType,
        default=False,
        description="Validate every record against its JSON Schema. Off by default: taps built with "
        "singer-sdk validate what they emit, the target types every batch through Arrow anyway (a "
        "bad value fails the batch), and per-record validation costs about 5x throughput.",
    ),
    th.Property(
        "vacuum_retention_hours",
        th.IntegerType,
        default=DEFAULT_VACUUM_RETENTION_HOURS,
        description="`target-databricks maintain`: VACUUM keeps files this many hours (Delta's own "
        "safety default is 168, the least a Databricks SQL warehouse accepts).",
    ),
    # --- what every table carries ----------------------------------------------------------------
    th.Property(
        "cluster_by",
        th.ArrayType(th.StringType),
        description="Clustering columns of every table (liquid clustering in the workspace, Z-order "
        "by `maintain` locally), the ones a table has, at most 4. Unset: the key columns of upsert "
        "tables; an empty list: no clustering.",
    ),
    th.Property(
        "change_data_feed",
        th.BooleanType,
        default=False,
        description="Set `delta.enableChangeDataFeed` on every table, so downstream jobs can read "
        "what each load changed (table_changes / readChangeFeed).",
    ),
    th.Property(
        "table_properties",
        th.ObjectType(additional_properties=th.StringType),
        description="Further Delta table properties for every table, e.g. "
        "`delta.logRetentionDuration: interval 60 days`; only the properties listed in the README "
        "are accepted.",
    ),
    # --- workspace engine ------------------------------------------------------------------------
    th.Property("host", th.StringType, description="Workspace URL, e.g. https://adb-123.azuredatabricks.net"),
    th.Property("server_hostname", th.StringType, description="Alias of `host` (hostname only)."),
    th.Property("http_path", th.StringType, description="SQL warehouse HTTP path: /sql/1.0/warehouses/<id>"),
    th.Property("warehouse_id", th.StringType, description="SQL warehouse id (else taken from http_path)."),
    th.Property(
        "auth_type",
        th.StringType(allowed_values=["oauth-m2m", "pat", ""]),
        description="oauth-m2m (service principal), pat, or empty: the databricks-sdk default chain "
        "(environment variables, ~/.databrickscfg profiles).",
    ),
    th.Property("client_id", th.StringType, description="Service principal application id (oauth-m2m)."),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        description="Service principal OAuth secret (prefer the encrypted credential store).",
    ),
    th.Property(
        "token",
        th.StringType,
        secret=True,
        description="Personal access token (auth_type pat; prefer the encrypted credential store).",
    ),
    th.Property("profile", th.StringType, description="~/.databrickscfg profile name."),
    th.Property(
        "credentials_path",
        th.StringType,
        description="Folder of the encrypted credential store (the folder `ml-credentials --store` "
        "writes); unset: no store is read.",
    ),
    th.Property(
        "credentials_key_env",
        th.StringType,
        default="ML_CONNECTOR_CREDENTIALS_KEY",
        description="Environment variable holding the credential store key.",
    ),
    th.Property(
        "credentials_entry",
        th.StringType,
        default=DEFAULT_CREDENTIALS_ENTRY,
        description="Credential store entry holding client_secret and/or token (and optionally "
        "client_id and host); settings given directly win over the entry.",
    ),
    th.Property("create_catalog", th.BooleanType, default=False, description="CREATE CATALOG if missing."),
    th.Property(
        "staging_volume",
        th.StringType,
        default=DEFAULT_STAGING_VOLUME,
        description="Unity Catalog volume (in the target schema) for staged Parquet files.",
    ),
    th.Property(
        "load_via",
        th.StringType(allowed_values=["statements", "jobs"]),
        default=DEFAULT_LOAD_VIA,
        description="statements: SQL Statement Execution API; jobs: runs/submit with idempotency tokens.",
    ),
    th.Property(
        "warehouse_start_timeout_seconds",
        th.IntegerType,
        default=DEFAULT_WAREHOUSE_START_TIMEOUT_SECONDS,
        description="How long to wait for a stopped SQL warehouse to reach RUNNING.",
    ),
    th.Property(
        "statement_timeout_seconds",
        th.IntegerType,
        default=DEFAULT_STATEMENT_TIMEOUT_SECONDS,
        description="How long one statement (or Jobs run) may take before it is cancelled.",
    ),
    th.Property(
        "jobs_workspace_dir",
        th.StringType,
        default=DEFAULT_JOBS_DIR,
        description="Workspace folder for SQL files run by load_via=jobs.",
    ),
    th.Property(
        "poll_interval_seconds",
        th.NumberType,
        default=DEFAULT_POLL_INTERVAL_SECONDS,
        description="Longest wait between two polls of a running statement, starting warehouse or "
        "Jobs run (polling starts faster and backs off to this).",
    ),
    th.Property(
        "retry_timeout_seconds",
        th.IntegerType,
        description="databricks-sdk's total retry budget for one API call (SDK default 300).",
    ),
    th.Property(
        "http_timeout_seconds", th.IntegerType, description="databricks-sdk's timeout of one HTTP request."
    ),
    th.Property(
        "discovery_url",
        th.StringType,
        description="OIDC discovery URL, only if the workspace's own discovery cannot be used.",
    ),
).to_dict()


# Unity Catalog's rules for catalog and schema names (see the README's naming section).
UC_MAX_NAME_LENGTH = 255
_UC_FORBIDDEN = (
    (re.compile(r"\s"), "a space"),
    (re.compile(r"\."), "a period"),
    (re.compile(r"/"), "a slash"),
    (re.compile(r"[\x00-\x1f\x7f]"), "a control character"),
)


def uc_name(setting: str, value: str) -> str:
    """`value` as Unity Catalog stores it (lower case), or a SettingsError naming the rule it breaks.

    Catalog and schema are the user's own names: they are never rewritten, only refused.
    """
    broken = [what for pattern, what in _UC_FORBIDDEN if pattern.search(value)]
    if len(value) > UC_MAX_NAME_LENGTH:
        broken.append(f"{len(value)} characters (at most {UC_MAX_NAME_LENGTH})")
    if broken:
        raise SettingsError(
            f"{setting} {value!r} is not a Unity Catalog name: it has {' and '.join(broken)}. Unity "
            f"Catalog names have at most {UC_MAX_NAME_LENGTH} characters and no spaces, periods, "
            f"slashes or control characters; set {setting} to such a name (e.g. "
            f"{re.sub(r'[^a-z0-9_]+', '_', value.lower()).strip('_')[:UC_MAX_NAME_LENGTH] or 'main'!r})."
        )
    return value.lower()


def target_catalog(config: t.Mapping[str, t.Any]) -> str:
    return uc_name("catalog", str(config.get("catalog") or DEFAULT_CATALOG))


def target_schema(config: t.Mapping[str, t.Any]) -> str:
    """`default_target_schema` (Meltano's standard setting) wins over `schema`, which has a default."""
    if config.get("default_target_schema"):
        return uc_name("default_target_schema", str(config["default_target_schema"]))
    return uc_name("schema", str(config.get("schema") or DEFAULT_SCHEMA))


def load_method_for(config: t.Mapping[str, t.Any], key_properties: t.Sequence[str]) -> LoadMethod:
    """The configured method; unset → upsert with keys, append-only without. Upsert needs keys."""
    configured = config.get("load_method")
    if configured in ("overwrite", "append-only"):
        return t.cast(LoadMethod, configured)
    return "upsert" if key_properties else "append-only"


# --- table options -----------------------------------------------------------------------------

CHANGE_DATA_FEED = "delta.enableChangeDataFeed"
MAX_CLUSTER_COLUMNS = 4  # Databricks' limit for liquid clustering keys
# Delta properties `table_properties` may set: tuning and retention. Left out on purpose: column
# mapping (an irreversible protocol upgrade), appendOnly (would break upserts and deletes), type
# widening (the target sets it when it widens), and change data feed (its own setting).
ALLOWED_TABLE_PROPERTIES = (
    "delta.autoOptimize.autoCompact",
    "delta.autoOptimize.optimizeWrite",
    "delta.checkpointInterval",
    "delta.dataSkippingNumIndexedCols",
    "delta.dataSkippingStatsColumns",
    "delta.deletedFileRetentionDuration",
    "delta.enableDeletionVectors",
    "delta.logRetentionDuration",
    "delta.targetFileSize",
    "delta.tuneFileSizesForRewrites",
)


@dataclasses.dataclass(frozen=True)
class TableOptions:
    """What the settings add to every table: clustering and Delta properties."""

    cluster_by: tuple[str, ...] | None  # None: the keys of upsert tables
    properties: dict[str, str]

    def clustering(
        self, columns: t.Collection[str], keys: t.Sequence[str], method: LoadMethod
    ) -> tuple[str, ...]:
        """The clustering columns of one table (conformed names it has)."""
        if self.cluster_by is None:
            return tuple(keys[:MAX_CLUSTER_COLUMNS]) if method == "upsert" else ()
        return tuple(c for c in self.cluster_by if c in columns)


def table_options(config: t.Mapping[str, t.Any]) -> TableOptions:
    """The table settings, checked: one SettingsError naming the setting, the value and the fix."""
    from target_databricks.schema import conform_name

    cluster_by: tuple[str, ...] | None = None
    if config.get("cluster_by") is not None:
        cluster_by = tuple(dict.fromkeys(conform_name(str(c)) for c in config["cluster_by"]))
        if len(cluster_by) > MAX_CLUSTER_COLUMNS:
            raise SettingsError(
                f"cluster_by {list(config['cluster_by'])!r} names {len(cluster_by)} columns: Databricks "
                f"clusters by at most {MAX_CLUSTER_COLUMNS}; list at most {MAX_CLUSTER_COLUMNS}."
            )
    properties: dict[str, str] = {}
    for key, value in dict(config.get("table_properties") or {}).items():
        allowed = {p.lower(): p for p in ALLOWED_TABLE_PROPERTIES}
        if str(key).lower() not in allowed:
            hint = (
                "use the change_data_feed setting"
                if str(key).lower() == CHANGE_DATA_FEED.lower()
                else f"allowed: {', '.join(ALLOWED_TABLE_PROPERTIES)}"
            )
            raise SettingsError(f"table_properties: {key!r} is not a property the target sets; {hint}.")
        properties[allowed[str(key).lower()]] = str(value).lower() if isinstance(value, bool) else str(value)
    if config.get("change_data_feed"):
        properties[CHANGE_DATA_FEED] = "true"
    return TableOptions(cluster_by, properties)
