"""Price writes (services): ingest a polled minute, store history, maintain aggregates.

- ingest: `ticks_ingest`, one polling cycle.
- history: `history_store`, `candles_backfill`, `history_import`: candles and recorded files.
- aggregates: `rollups_refresh`, `rollups_rebuild`: minute snapshots, hour rollups, blocks.
- gaps: `gaps_scan`, `gaps_repair`: missing minutes per pair, filled from candles.
- retention: `ticks_expire`: deletes expired ticks where DynamoDB TTL does not.
"""

from prices.services.aggregates import rollups_rebuild, rollups_refresh
from prices.services.gaps import GapRepairSummary, GapScan, gaps_repair, gaps_scan
from prices.services.history import (
    HistorySummary,
    candle_ticks,
    candles_backfill,
    history_files,
    history_import,
    history_store,
    snapshot_ticks,
)
from prices.services.ingest import IngestSummary, ticks_ingest
from prices.services.retention import ExpirySummary, ticks_expire

__all__ = [
    "ExpirySummary",
    "GapRepairSummary",
    "GapScan",
    "HistorySummary",
    "IngestSummary",
    "candle_ticks",
    "candles_backfill",
    "gaps_repair",
    "gaps_scan",
    "history_files",
    "history_import",
    "history_store",
    "rollups_rebuild",
    "rollups_refresh",
    "snapshot_ticks",
    "ticks_expire",
    "ticks_ingest",
]
