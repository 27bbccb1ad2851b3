"""Price writes (services): ingest a polled minute, store history, maintain aggregates.

- minutes: `minutes_store`, the one write path (and write order) of stored minutes.
- ingest: `ticks_ingest`, one polling cycle.
- history: `history_store`, `candles_backfill`, `history_import`: candles and recorded files.
- aggregates: `rollups_refresh`: hour rollups and blocks from minute snapshots.
- rebuild: `rollups_rebuild`: snapshots and rollups of a range again from the stored ticks.
- gaps: `gaps_scan`, `gaps_repair`: missing minutes per pair, filled from candles.
- retention: `ticks_expire`: deletes expired ticks where DynamoDB TTL does not.
- lease: `poll_lease_acquire`, `poll_lease_release`: one poll at a time and one per minute.
- pairs: `pair_candles_failed`, `pairs_reconcile`: inactive and delisted pairs.
"""

from prices.services.aggregates import rollups_refresh
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
from prices.services.minutes import MinutesStored, StoreMode, minutes_store
from prices.services.rebuild import rollups_rebuild
from prices.services.retention import ExpirySummary, ticks_expire

__all__ = [
    "ExpirySummary",
    "GapRepairSummary",
    "GapScan",
    "HistorySummary",
    "IngestSummary",
    "MinutesStored",
    "StoreMode",
    "candle_ticks",
    "candles_backfill",
    "gaps_repair",
    "gaps_scan",
    "history_files",
    "history_import",
    "history_store",
    "minutes_store",
    "rollups_rebuild",
    "rollups_refresh",
    "snapshot_ticks",
    "ticks_expire",
    "ticks_ingest",
]
