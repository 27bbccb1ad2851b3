"""DynamoTickRepository: ticks and aggregates in DynamoDB (the only importer of boto3).

Key design and item shapes are documented in docs/data-model.md. In short:

* `<prefix>ticks`: partition key `series` = "<exchange>#<pair>" (S), sort key `minute` =
  the minute's start in ms since epoch UTC (N). One item per (exchange, pair, minute).
* `<prefix>aggregates`: partition key `pk` (S), sort key `sk` (N), holding
  minute snapshots (pk "<exchange>#1m#YYYY-MM-DD", sk minute ms, one Number attribute per pair),
  hour rollups (pk "<exchange>#1h#YYYY-MM", sk hour ms, one Map attribute per pair), 23-hour
  blocks (pk "<exchange>#23h#YYYY-MM"), known gaps (pk "<exchange>#gaps#YYYY-MM", sk hour ms,
  one Number Set per pair), the latest-price registry (pk "<exchange>#latest", sk 0, one Map
  attribute per pair) and the data version (pk "<exchange>#version", sk 0, one counter).

Prices are DynamoDB Numbers written from Decimal strings (never floats) and read back as
Decimal. Every botocore error is translated into RepositoryError. Every read is strongly
consistent: a request right after ingestion (which bumps the data version that keys the
response cache) must see what was just written, or a stale answer would be cached for it.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from prices.concurrency import parallel_map
from prices.domain import HOUR_MS, MINUTE_MS, Tick, TickRow, decimal_str, to_ms
from prices.ohlc import HourCandle
from prices.repository.base import LatestPrice, PolledRead, RepositoryError
from prices.repository.dynamodb_items import (
    DAY_MS,
    DEFAULT_SHARDS,
    HEAD_SHARD,
    LIVE_IDLE_ATTRIBUTE,
    LIVE_STATS_ATTRIBUTE,
    REGISTRY_ENTRIES_ATTRIBUTE,
    RESERVED,
    TTL_ATTRIBUTE,
    by_shard,
    day_key,
    day_partitions,
    hour_attribute,
    hour_candle_to_item,
    hour_candles_from_item,
    hour_candles_key,
    known_gaps_from_item,
    live_stats_from_text,
    live_stats_to_text,
    month_key,
    month_partitions,
    number,
    registry_entries,
    registry_entries_to_text,
    registry_names,
    segment_from_item,
    segment_to_item,
    sharded,
    snapshot_from_item,
    tick_from_item,
    tick_row_from_item,
    tick_to_item,
)
from prices.rollups import TAIL_SLOTS, BlockRollup, HourRollup, HourTails, LiveWindow, MinuteSnapshot
from prices.statistics import Segment, WindowStats

logger = logging.getLogger(__name__)

# Partition keys of all-pairs items: "<exchange>#<kind>[#<period>]" plus "#<shard>" in this layout.
_LAYOUT_PK = re.compile(
    r"^(?P<base>[^#]+#(?:1m#\d{4}-\d{2}-\d{2}|1h#\d{4}-\d{2}|gaps#\d{4}-\d{2}|23h#\d{4}-\d{2}"
    r"|latest|polled|tail#\d+|live#\d+))(?:#(?P<shard>\d+))?$"
)

BATCH_WRITE_MAX = 25  # DynamoDB's BatchWriteItem limit
BATCH_GET_MAX = 100  # DynamoDB's BatchGetItem limit
UPDATE_CHUNK = 50  # pairs per UpdateItem, keeping expressions well under the 4 KB limit
PROJECTION_CHUNK = 80  # pair names per projection expression
BATCH_GET_MAX = 100  # DynamoDB's BatchGetItem limit
UNPROCESSED_RETRIES = 8
WRITE_WORKERS = 4  # parallel BatchWriteItem calls: hides round trips without flooding the endpoint
LATEST_RETRIES = 8


def _items_without_model_parsing(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """Hand Items/Item of a successful Query or GetItem to the caller as plain JSON.

    DynamoDB speaks JSON, and the attribute values botocore's model-driven parser returns are
    the same dicts as the wire JSON ({"S": ...}, {"N": ...}, {"M": ...}; we store no binary
    values, the one type it would transform). That parser costs ~30 µs per attribute: most of
    a 24 h history read (1,440 items). So the items are taken out of the body before parsing
    and put back unchanged afterwards (botocore's documented before-parse event).
    """
    if response_dict.get("status_code") != 200 or not response_dict.get("body"):
        return
    try:
        body = json.loads(response_dict["body"])
    except ValueError:
        return  # let botocore report it
    if not isinstance(body, dict):
        return
    for key in ("Items", "Item", "Responses"):
        if key in body:
            customized_response_dict[key] = body.pop(key)
    response_dict["body"] = json.dumps(body).encode()


_PRESERIALIZED = "cryptotracker_body"  # request-context key of a body serialised by json.dumps


def _request_items_as_json(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """Serialise a BatchWriteItem's parameters with json.dumps instead of botocore's serializer.

    Our items are already in DynamoDB's wire format ({"S": ...}, {"N": ...}; no binary values,
    the one type its JSON serializer transforms), so json.dumps of the parameters is the body
    botocore would send; its model-driven serializer costs ~3× more, most of the client-side
    CPU of a cycle's tick writes. Runs before-parameter-build: the body is kept in the request
    context and RequestItems is left with its tables and no requests, so the serializer and
    endpoint resolution (which reads the table names) have almost nothing to do; before-call
    (`_body_from_context`) puts the body in place, before signing. Parameters json.dumps
    cannot encode are left to botocore.
    """
    if not params.get("RequestItems"):
        return
    try:
        body = json.dumps(params, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return
    context[_PRESERIALIZED] = body
    params["RequestItems"] = dict.fromkeys(params["RequestItems"], [])


def _body_from_context(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """before-call: the request body `_request_items_as_json` serialised (signed after this)."""
    body = context.pop(_PRESERIALIZED, None)
    if body is not None:
        params["body"] = body


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """`items` in consecutive slices of at most `size` (a batch call's limit)."""
    return [items[offset : offset + size] for offset in range(0, len(items), size)]


class DynamoTickRepository:
    """TickRepository on DynamoDB (AWS, or any endpoint speaking its protocol, e.g. dynalite)."""

    def __init__(
        self,
        *,
        table_prefix: str,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        max_attempts: int = 4,
        retention_days: int | None = None,
        shards: int = DEFAULT_SHARDS,
    ) -> None:
        if shards < 1:
            raise RepositoryError(f"PRICES_AGGREGATE_SHARDS must be at least 1, not {shards}")
        self.shards = shards
        if endpoint_url and not access_key_id:
            # Local endpoints (dynalite, moto) accept any credentials but boto3 needs some.
            access_key_id, secret_access_key = "local", "local"
        try:
            session = boto3.session.Session(
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                region_name=region,
            )
            self.client = session.client(
                "dynamodb",
                endpoint_url=endpoint_url or None,
                config=Config(
                    connect_timeout=connect_timeout_s,
                    read_timeout=read_timeout_s,
                    retries={"mode": "standard", "max_attempts": max_attempts},
                    max_pool_connections=32,
                    # DynamoDB validates every request itself; botocore's client-side check
                    # of each parameter against the model cost ~40 % of a cycle's tick writes.
                    parameter_validation=False,
                ),
            )
        except (BotoCoreError, ValueError) as exc:  # a malformed region or endpoint URL
            raise RepositoryError(
                f"DynamoDB client setup failed (AWS_REGION={region!r}, "
                f"DYNAMODB_ENDPOINT_URL={endpoint_url or ''!r}): {exc}"
            ) from exc
        for operation in ("Query", "GetItem", "BatchGetItem"):
            self.client.meta.events.register(
                f"before-parse.dynamodb.{operation}", _items_without_model_parsing
            )
        events = self.client.meta.events
        events.register("before-parameter-build.dynamodb.BatchWriteItem", _request_items_as_json)
        events.register("before-call.dynamodb.BatchWriteItem", _body_from_context)
        self.ticks_table = f"{table_prefix}ticks"
        self.aggregates_table = f"{table_prefix}aggregates"
        self.retention_days = retention_days
        self._native_expiry: bool | None = None  # decided once per instance, see native_expiry
        # By kind ("block", "rollup"), the segments of the last whole item set read or written,
        # by their stored string (see _segments_reused).
        self._known_segments: dict[str, dict[str, Segment]] = {}

    # --- tables ------------------------------------------------------------------------

    def ensure_tables(self) -> list[str]:
        """Create the ticks and aggregates tables if missing (on-demand billing); wait until ACTIVE."""
        specs = {
            self.ticks_table: [("series", "S", "HASH"), ("minute", "N", "RANGE")],
            self.aggregates_table: [("pk", "S", "HASH"), ("sk", "N", "RANGE")],
        }
        created = []
        with self._errors("ensure_tables"):
            existing = set()
            for page in self.client.get_paginator("list_tables").paginate():
                existing.update(page.get("TableNames", []))
            for name, keys in specs.items():
                if name in existing:
                    continue
                try:
                    self.client.create_table(
                        TableName=name,
                        BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t, _ in keys],
                        KeySchema=[{"AttributeName": a, "KeyType": k} for a, _, k in keys],
                    )
                    created.append(name)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ResourceInUseException":
                        raise
            waiter = self.client.get_waiter("table_exists")
            for name in specs:
                waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            if self.retention_days is not None:
                self._enable_ttl()
        return created

    def _enable_ttl(self) -> None:
        """Turn on DynamoDB TTL for the ticks' `ttl` attribute where the endpoint supports it.

        dynalite answers UpdateTimeToLive with UnknownOperationException; any refusal (also a
        missing IAM permission) leaves expiry to the scheduled `prices.tasks.expire_ticks`.
        """
        try:
            self.client.update_time_to_live(
                TableName=self.ticks_table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
            self._decide_expiry(True, "enabled by ensure_tables")
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if "already enabled" in error.get("Message", "").lower():
                self._decide_expiry(True, "already enabled")
            else:
                self._decide_expiry(False, f"UpdateTimeToLive refused: {error.get('Code', '?')}")

    def native_expiry(self) -> bool:
        """True when DynamoDB TTL is enabled on the ticks table (DescribeTimeToLive, asked once).

        False where TTL is off or the endpoint lacks it: then `expire_ticks` must delete
        expired ticks. The answer is cached and logged once per repository instance.
        """
        if self._native_expiry is None:
            refused = None
            with self._errors("native_expiry"):
                try:
                    response = self.client.describe_time_to_live(TableName=self.ticks_table)
                except ClientError as exc:
                    refused = exc.response.get("Error", {}).get("Code", "?")
                    if refused == "ResourceNotFoundException":
                        raise
            if refused is not None:
                self._decide_expiry(False, f"DescribeTimeToLive refused: {refused}")
            else:
                description = response.get("TimeToLiveDescription", {})
                status = description.get("TimeToLiveStatus", "DISABLED")
                attribute = description.get("AttributeName")
                native = status in ("ENABLED", "ENABLING") and attribute == TTL_ATTRIBUTE
                self._decide_expiry(native, f"TTL status {status}")
        return bool(self._native_expiry)

    def _decide_expiry(self, native: bool, why: str) -> None:
        if self._native_expiry is not None:
            return
        self._native_expiry = native
        if native:
            logger.info(
                "ticks table %s: DynamoDB TTL on `ttl` (%s); DynamoDB deletes expired ticks",
                self.ticks_table,
                why,
            )
        else:
            logger.info(
                "ticks table %s: no DynamoDB TTL (%s); prices.tasks.expire_ticks deletes expired ticks",
                self.ticks_table,
                why,
            )

    def delete_tables(self) -> None:
        """Drop both tables (tests and benchmarks use throw-away prefixes)."""
        with self._errors("delete_tables"):
            for name in (self.ticks_table, self.aggregates_table):
                try:
                    self.client.delete_table(TableName=name)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                        raise

    # --- ticks -------------------------------------------------------------------------

    def put_many(self, ticks: Sequence[Tick]) -> int:
        """BatchWriteItem in chunks of 25, WRITE_WORKERS at a time; UnprocessedItems retried.

        Each chunk's unprocessed items are retried with jittered backoff (see _batch_write);
        the first chunk that still fails raises RepositoryError once the others have finished.
        """
        unique = {(t.exchange, t.pair, t.minute_ms): t for t in ticks}  # a batch may not repeat a key
        days = self.retention_days
        requests = [{"PutRequest": {"Item": tick_to_item(t, retention_days=days)}} for t in unique.values()]
        with self._errors("put_many"):
            self._batch_write_all(requests)
        return len(requests)

    def _batch_write_all(self, requests: list[dict[str, Any]], *, table: str | None = None) -> None:
        """Write requests in BatchWriteItem chunks of 25, WRITE_WORKERS at a time (boto3 is thread-safe)."""
        chunks = _chunks(requests, BATCH_WRITE_MAX)
        parallel_map(lambda chunk: self._batch_write(chunk, table=table), chunks, workers=WRITE_WORKERS)

    def _batch_write(self, chunk: list[dict[str, Any]], *, table: str | None = None) -> None:
        pending = {table or self.ticks_table: chunk}
        for attempt in range(UNPROCESSED_RETRIES + 1):
            response = self.client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            if attempt < UNPROCESSED_RETRIES:
                time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        left = sum(len(v) for v in pending.values())
        raise RepositoryError(f"DynamoDB left {left} writes unprocessed after {UNPROCESSED_RETRIES} retries")

    def between(
        self, *, exchange: str, pair: str, start: datetime, end: datetime, limit: int | None = None
    ) -> Iterator[Tick]:
        """Query [start, end) oldest first, following LastEvaluatedKey across 1 MB pages.

        With `limit`, each Query asks for at most the ticks still wanted (`Limit`), so no
        more than `limit` items are read.
        """
        for item in self._items_between(exchange, pair, start, end, limit):
            yield tick_from_item(item)

    def rows_between(
        self, *, exchange: str, pair: str, start: datetime, end: datetime, limit: int | None = None
    ) -> Iterator[TickRow]:
        """The Queries of `between`, each item read into a TickRow (no Tick, no Decimal)."""
        for item in self._items_between(exchange, pair, start, end, limit):
            yield tick_row_from_item(item)

    def _items_between(
        self, exchange: str, pair: str, start: datetime, end: datetime, limit: int | None
    ) -> Iterator[dict[str, Any]]:
        start_ms, end_ms = to_ms(start), to_ms(end)
        if end_ms <= start_ms or (limit is not None and limit < 1):
            return
        kwargs: dict[str, Any] = {
            "TableName": self.ticks_table,
            "KeyConditionExpression": "#s = :s AND #m BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#s": "series", "#m": "minute"},
            "ExpressionAttributeValues": {
                ":s": {"S": f"{exchange}#{pair}"},
                ":a": number(start_ms),
                ":b": number(end_ms - 1),
            },
            "ConsistentRead": True,
        }
        remaining = limit
        while True:
            if remaining is not None:
                kwargs["Limit"] = remaining
            with self._errors("between"):
                response = self.client.query(**kwargs)
            items = response.get("Items", [])
            yield from items
            if remaining is not None:
                remaining -= len(items)
            if "LastEvaluatedKey" not in response or remaining == 0:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def latest(self, *, exchange: str, pair: str) -> Tick | None:
        """Newest tick of the pair (one descending Query with Limit 1)."""
        with self._errors("latest"):
            response = self.client.query(
                TableName=self.ticks_table,
                KeyConditionExpression="#s = :s",
                ExpressionAttributeNames={"#s": "series"},
                ExpressionAttributeValues={":s": {"S": f"{exchange}#{pair}"}},
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )
        items = response.get("Items", [])
        return tick_from_item(items[0]) if items else None

    def ticks_at(self, *, exchange: str, minutes: Mapping[str, int]) -> dict[str, Tick]:
        """BatchGetItem of (series, minute) keys, 100 per call; unprocessed keys retried with backoff."""
        keys = [{"series": {"S": f"{exchange}#{pair}"}, "minute": number(ms)} for pair, ms in minutes.items()]
        found: dict[str, Tick] = {}
        for chunk in _chunks(keys, BATCH_GET_MAX):
            pending = {self.ticks_table: {"Keys": chunk, "ConsistentRead": True}}
            for attempt in range(UNPROCESSED_RETRIES + 1):
                with self._errors("ticks_at"):
                    response = self.client.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self.ticks_table, []):
                    tick = tick_from_item(item)
                    found[tick.pair] = tick
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                if attempt == UNPROCESSED_RETRIES:
                    raise RepositoryError("DynamoDB left reads unprocessed in ticks_at")
                time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        return found

    def first(self, *, exchange: str, pair: str) -> Tick | None:
        """Oldest tick of the pair (one ascending Query with Limit 1)."""
        with self._errors("first"):
            response = self.client.query(
                TableName=self.ticks_table,
                KeyConditionExpression="#s = :s",
                ExpressionAttributeNames={"#s": "series"},
                ExpressionAttributeValues={":s": {"S": f"{exchange}#{pair}"}},
                ScanIndexForward=True,
                Limit=1,
                ConsistentRead=True,
            )
        items = response.get("Items", [])
        return tick_from_item(items[0]) if items else None

    def expire_ticks(self, *, exchange: str, pair: str, before_ms: int, limit: int) -> int:
        """Query the oldest keys with minute < before_ms (at most `limit`); delete them 25 per batch."""
        keys: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.ticks_table,
            "KeyConditionExpression": "#s = :s AND #m < :b",
            "ExpressionAttributeNames": {"#s": "series", "#m": "minute"},
            "ExpressionAttributeValues": {":s": {"S": f"{exchange}#{pair}"}, ":b": number(before_ms)},
            "ProjectionExpression": "#s, #m",
        }
        while len(keys) < limit:
            kwargs["Limit"] = limit - len(keys)
            with self._errors("expire_ticks"):
                response = self.client.query(**kwargs)
            keys.extend({"series": i["series"], "minute": i["minute"]} for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        requests = [{"DeleteRequest": {"Key": key}} for key in keys]
        with self._errors("expire_ticks"):
            for chunk in _chunks(requests, BATCH_WRITE_MAX):
                self._batch_write(chunk)
        return len(requests)

    # --- shards and batches ---------------------------------------------------------------

    def _parallel(self, function: Any, jobs: Sequence[Any]) -> list[Any]:
        """`function(job)` for every job, WRITE_WORKERS at a time; the first error is re-raised."""
        return parallel_map(function, jobs, workers=WRITE_WORKERS)

    def _shards_for(self, pairs: Iterable[str] | None, *, head: bool = False) -> dict[int, list[str] | None]:
        """Shard → the wanted pairs in it (None = all); every shard when `pairs` is None."""
        if pairs is None:
            return dict.fromkeys(range(self.shards))
        groups: dict[int, list[str] | None] = dict(by_shard((self._pair_attr(p) for p in pairs), self.shards))
        if head:
            groups.setdefault(HEAD_SHARD, [])
        return groups

    def _batch_get(self, keys: list[dict[str, Any]], projection: Sequence[str] | None = None) -> list[dict]:
        """Consistent BatchGetItem of aggregates, 100 keys per call, unprocessed keys retried."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"ConsistentRead": True}
        if projection is not None:
            names = {f"#a{i}": name for i, name in enumerate(["pk", "sk", *projection])}
            request["ProjectionExpression"] = ", ".join(names)
            request["ExpressionAttributeNames"] = names

        def get(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            pending: dict[str, Any] = {self.aggregates_table: {**request, "Keys": chunk}}
            for attempt in range(UNPROCESSED_RETRIES + 1):
                response = self.client.batch_get_item(RequestItems=pending)
                found.extend(response.get("Responses", {}).get(self.aggregates_table, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    return found
                if attempt < UNPROCESSED_RETRIES:
                    time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
            raise RepositoryError(f"DynamoDB left keys unprocessed after {UNPROCESSED_RETRIES} retries")

        for found in self._parallel(get, _chunks(keys, BATCH_GET_MAX)):
            items.extend(found)
        return items

    def _put_items(self, items: list[dict[str, Any]]) -> None:
        """Unconditional puts into the aggregates table: parallel BatchWriteItem chunks of 25."""
        self._batch_write_all([{"PutRequest": {"Item": item}} for item in items], table=self.aggregates_table)

    def _delete_keys(self, keys: list[dict[str, Any]]) -> None:
        self._batch_write_all([{"DeleteRequest": {"Key": key}} for key in keys], table=self.aggregates_table)

    def _query_shards(
        self,
        partitions: list[tuple[str, int, int]],
        pairs: Iterable[str] | None,
        *,
        head: bool = False,
        reserved: Sequence[str] = (),
    ) -> list[tuple[int, int, dict[str, Any]]]:
        """(sk, shard, item) of every shard of `partitions` holding one of `pairs` (all when None).

        One Query per (partition, shard, chunk of PROJECTION_CHUNK pairs), run in parallel and
        paged to the end; chunks of one item are merged. With `head`, the head shard is read
        too (its reserved attributes: src, pending). Sorted by (sk, shard).
        """
        jobs = []
        for shard, wanted in self._shards_for(pairs, head=head).items():
            projections: list[dict[str, str] | None] = [None]
            if wanted is not None:
                projections = []
                for offset in range(0, max(len(wanted), 1), PROJECTION_CHUNK):
                    names = {"#pk": "pk", "#sk": "sk", **{f"#r{i}": n for i, n in enumerate(reserved)}}
                    chunk = wanted[offset : offset + PROJECTION_CHUNK]
                    names.update({f"#p{i}": p for i, p in enumerate(chunk)})
                    projections.append(names)
            for pk, lo, hi in partitions:
                for names in projections:
                    jobs.append((sharded(pk, shard), shard, lo, hi, names))

        def query(job: tuple[str, int, int, int, dict[str, str] | None]) -> list[tuple[int, int, dict]]:
            pk, shard, lo, hi, names = job
            kwargs: dict[str, Any] = {
                "TableName": self.aggregates_table,
                "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
                "ExpressionAttributeNames": names or {"#pk": "pk", "#sk": "sk"},
                "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": number(lo), ":hi": number(hi)},
                "ConsistentRead": True,
            }
            if names is not None:
                kwargs["ProjectionExpression"] = ", ".join(names)
            found = []
            while True:
                response = self.client.query(**kwargs)
                found.extend((int(item["sk"]["N"]), shard, item) for item in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    return found
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

        merged: dict[tuple[int, int], dict[str, Any]] = {}
        with self._errors("query"):
            for found in self._parallel(query, jobs):
                for sk, shard, item in found:
                    merged.setdefault((sk, shard), {}).update(item)
        return [(sk, shard, merged[(sk, shard)]) for sk, shard in sorted(merged)]

    # --- minute snapshots ---------------------------------------------------------------

    def _snapshot_key(self, exchange: str, minute_ms: int, shard: int = HEAD_SHARD) -> dict[str, Any]:
        return {"pk": {"S": sharded(f"{exchange}#1m#{day_key(minute_ms)}", shard)}, "sk": number(minute_ms)}

    def _snapshot_items(self, snapshot: MinuteSnapshot) -> dict[int, dict[str, Any]]:
        """Shard → item of a polled snapshot; the head shard always, with src and pending."""
        groups: dict[int, list[str]] = {HEAD_SHARD: [], **by_shard(snapshot.prices, self.shards)}
        items = {}
        for shard, pairs in groups.items():
            item = self._snapshot_key(snapshot.exchange, snapshot.minute_ms, shard)
            item["src"] = {"S": snapshot.source}
            item["shards"] = number(self.shards)
            if snapshot.pending and shard == HEAD_SHARD:
                item["pending"] = number(1)
            item["prices"] = {
                "S": ";".join(f"{self._pair_attr(p)}={decimal_str(snapshot.prices[p])}" for p in pairs)
            }
            items[shard] = item
        return items

    def claim_snapshot(self, snapshot: MinuteSnapshot) -> bool:
        """Conditional PutItem of the head shard (attribute_not_exists): the first writer wins.

        The other shards follow in BatchWriteItem calls, before the caller writes the ticks:
        a poll that dies while writing its ticks then leaves all its prices in a pending
        snapshot, which gap repair completes without asking the exchange. Each shard's
        prices go into one String attribute `prices` ("BTCUSD=7240.1;AAVE:USD=0.00007181"):
        one string per item costs far less to store, send and parse than one Number
        attribute per pair.
        """
        items = self._snapshot_items(snapshot)
        with self._errors("claim_snapshot"):
            try:
                self.client.put_item(
                    TableName=self.aggregates_table,
                    Item=items.pop(HEAD_SHARD),
                    ConditionExpression="attribute_not_exists(#sk)",
                    ExpressionAttributeNames={"#sk": "sk"},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return False
                raise
            self._put_items(list(items.values()))
        return True

    def complete_snapshot(self, *, exchange: str, minute_ms: int) -> None:
        """UpdateItem REMOVE pending on the head shard, only if the snapshot exists."""
        with self._errors("complete_snapshot"):
            try:
                self.client.update_item(
                    TableName=self.aggregates_table,
                    Key=self._snapshot_key(exchange, minute_ms),
                    UpdateExpression="REMOVE #pending",
                    ConditionExpression="attribute_exists(#sk)",
                    ExpressionAttributeNames={"#pending": "pending", "#sk": "sk"},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def merge_snapshot(self, snapshot: MinuteSnapshot) -> None:
        """UpdateItem SET #pair = if_not_exists(#pair, :price), 50 pairs per call, head shard first.

        The head is written first (creating it with `src` if missing) so that a poll's claim
        of the minute fails once any price of the minute is stored.
        """
        groups: dict[int, list[str]] = {HEAD_SHARD: [], **by_shard(snapshot.prices, self.shards)}

        def update(shard: int) -> None:
            pairs = groups[shard]
            for offset in range(0, max(len(pairs), 1), UPDATE_CHUNK):  # one item's chunks in turn
                chunk = pairs[offset : offset + UPDATE_CHUNK]
                names = {"#src": "src", "#shards": "shards"}
                values = {":src": {"S": snapshot.source}, ":shards": number(self.shards)}
                clauses = ["#src = if_not_exists(#src, :src)", "#shards = :shards"]
                for i, pair in enumerate(chunk):
                    names[f"#p{i}"] = self._pair_attr(pair)
                    values[f":v{i}"] = number(snapshot.prices[pair])
                    clauses.append(f"#p{i} = if_not_exists(#p{i}, :v{i})")
                self.client.update_item(
                    TableName=self.aggregates_table,
                    Key=self._snapshot_key(snapshot.exchange, snapshot.minute_ms, shard),
                    UpdateExpression="SET " + ", ".join(clauses),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )

        with self._errors("merge_snapshot"):
            update(HEAD_SHARD)
            self._parallel(update, [shard for shard in groups if shard != HEAD_SHARD])

    def get_snapshot(self, *, exchange: str, minute_ms: int) -> MinuteSnapshot | None:
        """BatchGetItem of every shard of one minute (strongly consistent); None without a head."""
        keys = [self._snapshot_key(exchange, minute_ms, shard) for shard in range(self.shards)]
        with self._errors("get_snapshot"):
            items = self._batch_get(keys)
        snapshots = self._snapshots_merged(
            exchange, [(minute_ms, self._shard_of_key(i), i) for i in items], None
        )
        return snapshots[0] if snapshots else None

    @staticmethod
    def _shard_of_key(item: dict[str, Any]) -> int:
        return int(item["pk"]["S"].rsplit("#", 1)[1])

    @staticmethod
    def _snapshots_merged(
        exchange: str, items: list[tuple[int, int, dict[str, Any]]], wanted: set[str] | None
    ) -> list[MinuteSnapshot]:
        """One MinuteSnapshot per minute from its shard items; src and pending from the head."""
        by_minute: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        for sk, shard, item in items:
            by_minute.setdefault(sk, []).append((shard, item))
        snapshots = []
        for minute_ms in sorted(by_minute):
            prices: dict[str, Decimal] = {}
            source, pending = None, False
            for shard, item in sorted(by_minute[minute_ms], key=lambda entry: entry[0]):
                part = snapshot_from_item(exchange, item, wanted)
                prices.update(part.prices)
                if shard == HEAD_SHARD:
                    source, pending = item.get("src", {}).get("S"), part.pending
                elif source is None and "src" in item:
                    source = item["src"]["S"]
            snapshots.append(MinuteSnapshot(exchange, minute_ms, prices, source or "ticker", pending))
        return snapshots

    def snapshots_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> list[MinuteSnapshot]:
        """Query each UTC-day partition of [start_ms, end_ms) in every shard holding `pairs`."""
        partitions = day_partitions(exchange, start_ms, end_ms)
        items = self._query_shards(partitions, pairs, head=True, reserved=("src", "prices", "pending"))
        wanted = set(pairs) if pairs is not None else None
        return self._snapshots_merged(exchange, items, wanted)

    # --- hour candles (per pair) -------------------------------------------------------------

    def put_hour_candles(self, *, exchange: str, pair: str, candles: Sequence[HourCandle]) -> None:
        """One UpdateItem per UTC day: SET h<HH> = the hour's candle (idempotent)."""
        by_day: dict[int, list[HourCandle]] = {}
        for candle in candles:
            by_day.setdefault(candle.hour_ms - candle.hour_ms % DAY_MS, []).append(candle)
        with self._errors("put_hour_candles"):
            for day_ms, day_candles in sorted(by_day.items()):
                attributes = {hour_attribute(c.hour_ms): hour_candle_to_item(c) for c in day_candles}
                names = sorted(attributes)
                self.client.update_item(
                    TableName=self.aggregates_table,
                    Key={"pk": {"S": hour_candles_key(exchange, pair)}, "sk": number(day_ms)},
                    UpdateExpression="SET " + ", ".join(f"#{n} = :{n}" for n in names),
                    ExpressionAttributeNames={f"#{n}": n for n in names},
                    ExpressionAttributeValues={f":{n}": attributes[n] for n in names},
                )

    def hour_candles_between(
        self, *, exchange: str, pair: str, start_ms: int, end_ms: int
    ) -> list[HourCandle]:
        """Query the pair's day items overlapping [start_ms, end_ms) (one item per day read)."""
        if end_ms <= start_ms:
            return []
        kwargs: dict[str, Any] = {
            "TableName": self.aggregates_table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": {
                ":pk": {"S": hour_candles_key(exchange, pair)},
                ":lo": number(start_ms - start_ms % DAY_MS),
                ":hi": number(end_ms - 1),
            },
            "ConsistentRead": True,
        }
        candles: list[HourCandle] = []
        while True:
            with self._errors("hour_candles_between"):
                response = self.client.query(**kwargs)
            for item in response.get("Items", []):
                candles.extend(c for c in hour_candles_from_item(item) if start_ms <= c.hour_ms < end_ms)
            if "LastEvaluatedKey" not in response:
                return candles
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # --- hour rollups ---------------------------------------------------------------------

    def _rollup_key(self, exchange: str, hour_ms: int, shard: int) -> dict[str, Any]:
        return {"pk": {"S": sharded(f"{exchange}#1h#{month_key(hour_ms)}", shard)}, "sk": number(hour_ms)}

    def put_rollup(self, rollup: HourRollup, *, replace: bool = False) -> bool:
        """Per shard, PutItem unless the stored shard item has more `values` (ConditionExpression).

        With `replace`, every shard is written unconditionally in BatchWriteItem calls (the
        poll folding the newest minute into its hour). Returns True if any shard was written.
        """

        def item_of(shard: int, pairs: list[str]) -> dict[str, Any]:
            values = sum(rollup.segments[p].count for p in pairs)
            item = {**self._rollup_key(rollup.exchange, rollup.hour_ms, shard), "values": number(values)}
            item["shards"] = number(self.shards)
            for pair in pairs:
                item[self._pair_attr(pair)] = segment_to_item(rollup.segments[pair])
            return item

        groups = by_shard(rollup.segments, self.shards)
        if replace:
            items = [item_of(shard, pairs) for shard, pairs in groups.items()]
            with self._errors("put_rollup"):
                self._put_items(items)
            # The poll reads this hour again next minute: its segments are known already.
            self._known_segments["rollup"] = {
                item[pair]["S"]: rollup.segments[pair]
                for (_, pairs), item in zip(groups.items(), items, strict=True)
                for pair in pairs
            }
            return bool(groups)

        def put(group: tuple[int, list[str]]) -> bool:
            item = item_of(*group)
            values = item["values"]["N"]
            try:
                self.client.put_item(
                    TableName=self.aggregates_table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#sk) OR #values <= :values",
                    ExpressionAttributeNames={"#sk": "sk", "#values": "values"},
                    ExpressionAttributeValues={":values": {"N": values}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return False
                raise
            return True

        with self._errors("put_rollup"):
            return any(self._parallel(put, list(groups.items())))

    def get_rollup(
        self, *, exchange: str, hour_ms: int, pairs: Iterable[str] | None = None
    ) -> HourRollup | None:
        """BatchGetItem of the hour's shards (those of `pairs` if given); None when none exists."""
        shards = self._shards_for(pairs)
        keys = [self._rollup_key(exchange, hour_ms, shard) for shard in shards]
        with self._errors("get_rollup"):
            items = self._batch_get(keys)
        if not items:
            return None
        wanted = set(pairs) if pairs is not None else None
        return HourRollup(exchange, hour_ms, self._segments_reused("rollup", items, wanted))

    @staticmethod
    def _segments_of(items: Iterable[dict[str, Any]], wanted: set[str] | None) -> dict[str, Any]:
        return {
            name: segment_from_item(value)
            for item in items
            for name, value in item.items()
            if name not in RESERVED and (wanted is None or name in wanted)
        }

    def rollups_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> list[HourRollup]:
        """Query each UTC-month partition of [start_ms, end_ms) in every shard holding `pairs`."""
        items = self._query_shards(month_partitions(exchange, start_ms, end_ms), pairs, reserved=("values",))
        by_hour: dict[int, list[dict[str, Any]]] = {}
        for sk, _, item in items:
            by_hour.setdefault(sk, []).append(item)
        return [
            HourRollup(exchange=exchange, hour_ms=hour_ms, segments=self._segments_of(by_hour[hour_ms], None))
            for hour_ms in sorted(by_hour)
        ]

    # --- known gaps -------------------------------------------------------------------------

    def add_known_gaps(self, *, exchange: str, minutes: Mapping[str, Iterable[int]]) -> None:
        """UpdateItem ADD of a Number Set of minute offsets (0–59) per pair on the hour's shard item.

        50 pairs per call; adding to a set is idempotent.
        """
        by_hour: dict[int, dict[str, set[int]]] = {}
        for pair, pair_minutes in minutes.items():
            self._pair_attr(pair)
            for minute_ms in pair_minutes:
                by_hour.setdefault(minute_ms - minute_ms % HOUR_MS, {}).setdefault(pair, set()).add(minute_ms)
        jobs = []  # one job per item; its chunks go one after another (updates of one item serialise)
        for hour_ms, pairs in sorted(by_hour.items()):
            for shard, names in by_shard(pairs, self.shards).items():
                chunks = _chunks(names, UPDATE_CHUNK)
                jobs.append((hour_ms, shard, [{p: pairs[p] for p in chunk} for chunk in chunks]))

        def add(job: tuple[int, int, list[dict[str, set[int]]]]) -> None:
            hour_ms, shard, chunks = job
            key = {
                "pk": {"S": sharded(f"{exchange}#gaps#{month_key(hour_ms)}", shard)},
                "sk": number(hour_ms),
            }
            for chunk in chunks:
                names = sorted(chunk)
                self.client.update_item(
                    TableName=self.aggregates_table,
                    Key=key,
                    UpdateExpression="SET #shards = :shards ADD "
                    + ", ".join(f"#p{i} :v{i}" for i in range(len(names))),
                    ExpressionAttributeNames={
                        "#shards": "shards",
                        **{f"#p{i}": n for i, n in enumerate(names)},
                    },
                    ExpressionAttributeValues={
                        ":shards": number(self.shards),
                        **{
                            f":v{i}": {"NS": [str((m - hour_ms) // MINUTE_MS) for m in sorted(chunk[p])]}
                            for i, p in enumerate(names)
                        },
                    },
                )

        with self._errors("add_known_gaps"):
            self._parallel(add, jobs)

    def known_gaps_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> dict[str, set[int]]:
        """Query each UTC-month partition of known-gap hour items overlapping [start_ms, end_ms)."""
        if end_ms <= start_ms:
            return {}
        partitions = month_partitions(exchange, start_ms - start_ms % HOUR_MS, end_ms, kind="gaps")
        wanted = set(pairs) if pairs is not None else None
        gaps: dict[str, set[int]] = {}
        for _, _, item in self._query_shards(partitions, pairs):
            for pair, minutes in known_gaps_from_item(item, start_ms, end_ms, wanted).items():
                gaps.setdefault(pair, set()).update(minutes)
        return gaps

    # --- 23-hour blocks -----------------------------------------------------------------------

    def _block_key(self, exchange: str, end_ms: int, shard: int) -> dict[str, Any]:
        return {"pk": {"S": sharded(f"{exchange}#23h#{month_key(end_ms)}", shard)}, "sk": number(end_ms)}

    def get_block(
        self, *, exchange: str, end_ms: int, pairs: Iterable[str] | None = None
    ) -> BlockRollup | None:
        """BatchGetItem of the block's shards (those of `pairs` if given); None unless all are there.

        Every shard item of a block exists (empty shards too, see put_block), so a missing one
        means the block is absent or only partly written.
        """
        shards = self._shards_for(pairs)
        wanted = set(pairs) if pairs is not None else set()
        keys = [self._block_key(exchange, end_ms, shard) for shard in shards]
        with self._errors("get_block"):
            items = self._batch_get(keys)
        if len(items) < len(keys):
            return None
        # Every poll of an hour reads the same block.
        segments = self._segments_reused("block", items, wanted if pairs is not None else None)
        return BlockRollup(exchange=exchange, end_ms=end_ms, segments=segments)

    def _segments_reused(self, kind: str, items: list[dict[str, Any]], wanted: set[str] | None) -> dict:
        """The segments of `items`, reusing those whose stored string was last read or written.

        Keyed by the string, so a segment written anew is parsed anew. A read of every shard
        (`wanted` None) becomes what the next read of `kind` reuses.
        """
        known, parsed = self._known_segments.get(kind, {}), {}
        segments = {}
        for item in items:
            for name, value in item.items():
                if name in RESERVED or (wanted is not None and name not in wanted):
                    continue
                text = value["S"]
                segment = known.get(text)
                if segment is None:
                    segment = segment_from_item(value)
                parsed[text] = segments[name] = segment
        if wanted is None:
            self._known_segments[kind] = parsed
        return segments

    def put_block(self, block: BlockRollup) -> None:
        """BatchWriteItem of one item per shard (one String attribute per pair, as hour rollups)."""
        groups = by_shard(block.segments, self.shards)
        items = []
        for shard in range(self.shards):
            item = {**self._block_key(block.exchange, block.end_ms, shard), "shards": number(self.shards)}
            for pair in groups.get(shard, []):
                item[self._pair_attr(pair)] = segment_to_item(block.segments[pair])
            items.append(item)
        with self._errors("put_block"):
            self._put_items(items)

    def delete_blocks(self, *, exchange: str, ends_ms: Iterable[int]) -> None:
        """BatchWriteItem of DeleteRequests for every shard of every block, 25 per call."""
        keys = [self._block_key(exchange, e, s) for e in sorted(set(ends_ms)) for s in range(self.shards)]
        with self._errors("delete_blocks"):
            self._delete_keys(keys)

    # --- hour tails ----------------------------------------------------------------------------

    def _tail_key(self, exchange: str, hour_ms: int, offset: int, shard: int) -> dict[str, Any]:
        slot = (hour_ms // HOUR_MS) % TAIL_SLOTS
        return {"pk": {"S": sharded(f"{exchange}#tail#{slot}", shard)}, "sk": number(offset)}

    def put_tails(self, tails: HourTails) -> None:
        """BatchWriteItem of one item per (offset 1–59, shard), empty ones too; `hour` names the hour.

        Every item exists once the tails are stored, so a missing one means "not computed".
        """
        items = []
        for offset in range(1, 60):
            segments = tails.offsets.get(offset, {})
            groups = by_shard(segments, self.shards)
            for shard in range(self.shards):
                item = self._tail_key(tails.exchange, tails.hour_ms, offset, shard)
                item["hour"] = number(tails.hour_ms)
                item["shards"] = number(self.shards)
                for pair in groups.get(shard, []):
                    item[self._pair_attr(pair)] = segment_to_item(segments[pair])
                items.append(item)
        with self._errors("put_tails"):
            self._put_items(items)

    def get_tail(
        self, *, exchange: str, hour_ms: int, offset: int, pairs: Iterable[str] | None = None
    ) -> dict[str, Segment] | None:
        """The hour's tail from `offset`, per pair; None unless every shard item holds this hour."""
        shards = self._shards_for(pairs)
        keys = [self._tail_key(exchange, hour_ms, offset, shard) for shard in shards]
        with self._errors("get_tail"):
            items = self._batch_get(keys)
        if len(items) < len(keys) or any(int(item["hour"]["N"]) != hour_ms for item in items):
            return None
        return self._segments_of(items, set(pairs) if pairs is not None else None)

    def delete_tails(self, *, exchange: str, hours_ms: Iterable[int]) -> None:
        """Delete the tails of `hours_ms` (every offset and shard); tails of other hours are kept."""
        keys = []
        for hour_ms in sorted(set(hours_ms)):
            probe = self._batch_get([self._tail_key(exchange, hour_ms, 1, 0)], projection=["hour"])
            if probe and int(probe[0]["hour"]["N"]) == hour_ms:
                keys += [
                    self._tail_key(exchange, hour_ms, o, s) for o in range(1, 60) for s in range(self.shards)
                ]
        with self._errors("delete_tails"):
            self._delete_keys(keys)

    # --- live window statistics -----------------------------------------------------------------

    def _live_key(self, exchange: str, window_minutes: int, shard: int) -> dict[str, Any]:
        return {"pk": {"S": sharded(f"{exchange}#live#{window_minutes}", shard)}, "sk": number(0)}

    def put_live(self, live: LiveWindow) -> None:
        """BatchWriteItem of one item per shard: `end` (ms), one `stats` String of every pair's line.

        And, when published, an `idle` String of the shard's idle pair names (one a line).
        """
        groups = by_shard(live.stats, self.shards)
        idle = by_shard(live.idle or (), self.shards)
        items = []
        for shard in range(self.shards):
            item = self._live_key(live.exchange, live.window_minutes, shard)
            item["end"] = number(live.end_ms)
            item["shards"] = number(self.shards)
            pairs = [self._pair_attr(pair) for pair in groups.get(shard, [])]
            item[LIVE_STATS_ATTRIBUTE] = {"S": live_stats_to_text(live.stats, pairs, live.end_ms)}
            if live.idle is not None:
                item[LIVE_IDLE_ATTRIBUTE] = {"S": "\n".join(self._pair_attr(p) for p in idle.get(shard, []))}
            items.append(item)
        with self._errors("put_live"):
            self._put_items(items)

    def get_live(
        self, *, exchange: str, window_minutes: int, pairs: Iterable[str] | None = None
    ) -> LiveWindow | None:
        """The published statistics of the live window; None unless every shard has the same end.

        Items of an earlier format (one attribute per pair, no `stats`) count as not published:
        the next poll rewrites them, and readers compute the window meanwhile. `idle` is None
        unless every shard read has its `idle` String.
        """
        shards = self._shards_for(pairs)
        keys = [self._live_key(exchange, window_minutes, shard) for shard in shards]
        with self._errors("get_live"):
            items = self._batch_get(keys)
        ends = {int(item["end"]["N"]) for item in items}
        if len(items) < len(keys) or len(ends) != 1:
            return None
        if any(LIVE_STATS_ATTRIBUTE not in item for item in items):
            return None
        end_ms = ends.pop()
        wanted = set(pairs) if pairs is not None else None
        stats: dict[str, WindowStats] = {}
        for item in items:
            text = item[LIVE_STATS_ATTRIBUTE]["S"]
            stats.update(live_stats_from_text(text, expected=window_minutes, end_ms=end_ms, wanted=wanted))
        idle = None
        if all(LIVE_IDLE_ATTRIBUTE in item for item in items):
            names = {name for item in items for name in item[LIVE_IDLE_ATTRIBUTE]["S"].split("\n") if name}
            idle = frozenset(names if wanted is None else names & wanted)
        return LiveWindow(exchange, window_minutes, end_ms, stats, idle)

    # --- latest-price registry ------------------------------------------------------------

    def _latest_key(self, exchange: str, shard: int) -> dict[str, Any]:
        return {"pk": {"S": sharded(f"{exchange}#latest", shard)}, "sk": number(0)}

    def update_latest(self, *, exchange: str, prices: Mapping[str, LatestPrice]) -> None:
        """Per shard, read-merge-write of the registry item with an optimistic `version` condition.

        The shards touched are read in one BatchGetItem and written in parallel; a shard whose
        condition fails (another writer got in between) is read again and retried.
        """
        if not prices:
            return
        groups = by_shard((self._pair_attr(p) for p in prices), self.shards)
        with self._errors("update_latest"):
            read = {
                self._shard_of_key(item): item
                for item in self._batch_get([self._latest_key(exchange, shard) for shard in groups])
            }

        def update(shard: int) -> None:
            item = read.get(shard)
            for attempt in range(LATEST_RETRIES):
                if item is None:
                    item = {**self._latest_key(exchange, shard), "version": number(0)}
                item["shards"] = number(self.shards)
                version = int(item["version"]["N"])
                changed = False
                for pair in groups[shard]:
                    entry = prices[pair]
                    stored = item.get(pair)
                    if stored is not None and int(stored["M"]["m"]["N"]) > entry.minute_ms:
                        continue
                    value = {"M": {"m": number(entry.minute_ms), "p": number(entry.price)}}
                    changed = changed or stored != value
                    item[pair] = value
                if not changed:
                    return
                item["version"] = number(version + 1)
                try:
                    self.client.put_item(
                        TableName=self.aggregates_table,
                        Item=item,
                        ConditionExpression="attribute_not_exists(#v) OR #v = :v",
                        ExpressionAttributeNames={"#v": "version"},
                        ExpressionAttributeValues={":v": number(version)},
                    )
                    return
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
                time.sleep(0.02 * (attempt + 1) * random.uniform(0.5, 1.0))
                item = self.client.get_item(
                    TableName=self.aggregates_table,
                    Key=self._latest_key(exchange, shard),
                    ConsistentRead=True,
                ).get("Item")
            raise RepositoryError(
                f"latest-price registry of {exchange} kept changing; gave up after {LATEST_RETRIES} tries"
            )

        with self._errors("update_latest"):
            self._parallel(update, sorted(groups))

    def _polled_key(self, exchange: str, shard: int) -> dict[str, Any]:
        return {"pk": {"S": sharded(f"{exchange}#polled", shard)}, "sk": number(0)}

    def read_polled(self, *, exchange: str) -> PolledRead:
        """One BatchGetItem of every shard of both registries, for `update_polled`.

        The poll reads it while its ticks are written, so that its registry write, in its
        turn, is a write only.
        """
        keys = [self._latest_key(exchange, shard) for shard in range(self.shards)]
        keys += [self._polled_key(exchange, shard) for shard in range(self.shards)]
        with self._errors("read_polled"):
            found = self._batch_get(keys)
        polled = f"{exchange}#polled#"
        return PolledRead(
            tracked=frozenset(name for item in found for name in registry_names(item)),
            shards={self._shard_of_key(item): item for item in found if item["pk"]["S"].startswith(polled)},
        )

    def update_polled(
        self, *, exchange: str, prices: Mapping[str, LatestPrice], read: PolledRead | None = None
    ) -> set[str]:
        """The poll's own registry: merge into `read` (`read_polled`, read now if None), then
        one BatchWriteItem of every shard touched.

        Only the minute poll writes these items (one poll at a time), so they need no
        condition, and a read taken before this minute's ticks were written is current. Each
        shard is written as one `entries` String (see dynamodb_items), converting a shard of
        the earlier per-pair format. The read covers every shard of both registries, so the
        tracked pairs it returns cost no read of their own.
        """
        if read is None:
            read = self.read_polled(exchange=exchange)
        tracked = set(read.tracked)
        tracked.update(prices)
        if not prices:
            return tracked
        groups = by_shard((self._pair_attr(p) for p in prices), self.shards)
        items = []
        for shard, pairs in groups.items():
            entries = registry_entries(read.shards.get(shard, {}))
            for pair in pairs:
                stored = entries.get(pair)
                entry = prices[pair]
                if stored is None or stored[0] <= entry.minute_ms:
                    entries[pair] = (entry.minute_ms, number(entry.price)["N"])
            item = self._polled_key(exchange, shard)
            item["shards"] = number(self.shards)
            item[REGISTRY_ENTRIES_ATTRIBUTE] = {"S": registry_entries_to_text(entries)}
            items.append(item)
        with self._errors("update_polled"):
            self._put_items(items)
        return tracked

    def latest_prices(self, *, exchange: str) -> dict[str, LatestPrice]:
        """Strongly consistent BatchGetItem of every shard of the registry and the poll's registry.

        Per pair, the newer entry of the two wins.
        """
        keys = [self._latest_key(exchange, shard) for shard in range(self.shards)]
        keys += [self._polled_key(exchange, shard) for shard in range(self.shards)]
        with self._errors("latest_prices"):
            items = self._batch_get(keys)
        registry: dict[str, LatestPrice] = {}
        for item in items:
            for name, (minute_ms, price) in registry_entries(item).items():
                if name not in registry or registry[name].minute_ms < minute_ms:
                    registry[name] = LatestPrice(minute_ms=minute_ms, price=Decimal(price))
        return registry

    def tracked_pairs(self, *, exchange: str) -> set[str]:
        """The pair names of both registries (the reads of `latest_prices`, no price decoded)."""
        keys = [self._latest_key(exchange, shard) for shard in range(self.shards)]
        keys += [self._polled_key(exchange, shard) for shard in range(self.shards)]
        with self._errors("tracked_pairs"):
            items = self._batch_get(keys)
        return {name for item in items for name in registry_names(item)}

    # --- data version ---------------------------------------------------------------------

    def _version_key(self, exchange: str) -> dict[str, Any]:
        return {"pk": {"S": f"{exchange}#version"}, "sk": number(0)}

    def data_version_bump(self, *, exchange: str) -> None:
        """An atomic ADD on one item holding a single counter."""
        with self._errors("data_version_bump"):
            self.client.update_item(
                TableName=self.aggregates_table,
                Key=self._version_key(exchange),
                UpdateExpression="ADD #v :one",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":one": number(1)},
            )

    def data_version(self, *, exchange: str) -> int:
        """Strongly consistent GetItem of the counter item (well under 1 KB: 1 read unit)."""
        with self._errors("data_version"):
            response = self.client.get_item(
                TableName=self.aggregates_table, Key=self._version_key(exchange), ConsistentRead=True
            )
        item = response.get("Item")
        return int(item["version"]["N"]) if item else 0

    # --- layout migration ---------------------------------------------------------------------

    def migrate_layout(self, *, dry_run: bool = False, progress: Any = None) -> dict[str, int]:
        """Rewrite aggregates of another layout into this one's shards; returns counts by kind.

        Converts the unsharded layout of earlier versions (pk "<exchange>#1m#<day>", "#1h#",
        "#gaps#", "#23h#", "#latest") and items of another shard count ("<pk>#<k>"): the
        partition keys are listed with a Scan projecting `pk` and `shards` (the shard count every
        item records); each logical partition with an item of another layout (a day of
        snapshots, a month of rollups or known gaps, the registry) is read, merged and written
        again in the current shards, and its items that this layout does not name are deleted.
        23-hour blocks, tails and live windows are dropped: ingestion computes them again.
        Idempotent (a second run finds nothing to convert). Meant to run with ingestion and
        gap repair stopped. `progress(1)` is called per logical partition.
        """
        foreign: dict[str, set[str]] = {}  # logical partition → its physical partition keys
        current: dict[str, set[str]] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.aggregates_table,
            "ProjectionExpression": "#pk, #shards",
            "ExpressionAttributeNames": {"#pk": "pk", "#shards": "shards"},
        }
        with self._errors("migrate_layout"):
            while True:
                response = self.client.scan(**kwargs)
                for item in response.get("Items", []):
                    match = _LAYOUT_PK.match(item["pk"]["S"])
                    if match is None:
                        continue
                    ours = match.group("shard") is not None and item.get("shards") == number(self.shards)
                    (current if ours else foreign).setdefault(match.group("base"), set()).add(item["pk"]["S"])
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        logical = {base: pks | current.get(base, set()) for base, pks in foreign.items()}
        counts: dict[str, int] = {}
        for base, pks in sorted(logical.items()):
            kind = base.split("#")[1]
            counts[kind] = counts.get(kind, 0) + 1
            if not dry_run:
                with self._errors("migrate_layout"):
                    self._migrate_partition(base, kind, sorted(pks))
            if progress:
                progress(1)
        return counts

    def _migrate_partition(self, base: str, kind: str, pks: list[str]) -> None:
        exchange = base.split("#")[0]
        items: list[dict[str, Any]] = []
        for pk in pks:
            kwargs: dict[str, Any] = {
                "TableName": self.aggregates_table,
                "KeyConditionExpression": "#pk = :pk",
                "ExpressionAttributeNames": {"#pk": "pk"},
                "ExpressionAttributeValues": {":pk": {"S": pk}},
                "ConsistentRead": True,
            }
            while True:
                response = self.client.query(**kwargs)
                items.extend(response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        by_sk: dict[int, list[dict[str, Any]]] = {}
        for item in items:
            by_sk.setdefault(int(item["sk"]["N"]), []).append(item)
        new_items: list[dict[str, Any]] = []
        if kind == "1m":
            for minute_ms, parts in sorted(by_sk.items()):
                shard_items = [(minute_ms, self._shard_or_head(i), i) for i in parts]
                (snapshot,) = self._snapshots_merged(exchange, shard_items, None)
                new_items += self._snapshot_items(snapshot).values()
        elif kind == "1h":
            for hour_ms, parts in sorted(by_sk.items()):
                segments = self._segments_of(parts, None)
                for shard, pairs in by_shard(segments, self.shards).items():
                    item = {**self._rollup_key(exchange, hour_ms, shard)}
                    item["values"] = number(sum(segments[p].count for p in pairs))
                    item["shards"] = number(self.shards)
                    item.update({p: segment_to_item(segments[p]) for p in pairs})
                    new_items.append(item)
        elif kind == "gaps":
            for hour_ms, parts in sorted(by_sk.items()):
                offsets: dict[str, set[int]] = {}
                for part in parts:
                    for name, value in part.items():
                        if name not in RESERVED:
                            for m in map(int, value["NS"]):  # minutes in ms (unsharded) or offsets
                                offsets.setdefault(name, set()).add(
                                    (m - hour_ms) // MINUTE_MS if m >= HOUR_MS else m
                                )
                for shard, pairs in by_shard(offsets, self.shards).items():
                    item = {"pk": {"S": sharded(base, shard)}, "sk": number(hour_ms)}
                    item["shards"] = number(self.shards)
                    item.update({p: {"NS": [str(o) for o in sorted(offsets[p])]} for p in pairs})
                    new_items.append(item)
        elif kind in ("latest", "polled"):
            registry: dict[str, tuple[int, str]] = {}
            for part in items:
                for name, entry in registry_entries(part).items():
                    if name not in registry or registry[name][0] < entry[0]:
                        registry[name] = entry
            for shard, pairs in by_shard(registry, self.shards).items():
                item = {"pk": {"S": sharded(base, shard)}, "sk": number(0), "version": number(1)}
                item["shards"] = number(self.shards)
                if kind == "polled":
                    item[REGISTRY_ENTRIES_ATTRIBUTE] = {
                        "S": registry_entries_to_text({p: registry[p] for p in pairs})
                    }
                else:
                    item.update(
                        {p: {"M": {"m": number(registry[p][0]), "p": {"N": registry[p][1]}}} for p in pairs}
                    )
                new_items.append(item)
        self._put_items(new_items)
        kept = {(i["pk"]["S"], i["sk"]["N"]) for i in new_items}
        self._delete_keys(
            [{"pk": i["pk"], "sk": i["sk"]} for i in items if (i["pk"]["S"], i["sk"]["N"]) not in kept]
        )

    @staticmethod
    def _shard_or_head(item: dict[str, Any]) -> int:
        suffix = item["pk"]["S"].rsplit("#", 1)[1]
        return int(suffix) if suffix.isdigit() else HEAD_SHARD

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _pair_attr(pair: str) -> str:
        if pair in RESERVED or not pair or pair != pair.upper():
            raise ValueError(f"pair {pair!r} cannot be used as an attribute name")
        return pair

    def _errors(self, operation: str) -> _TranslateErrors:
        return _TranslateErrors(operation)


class _TranslateErrors:
    """Context manager turning botocore exceptions into RepositoryError with one readable line."""

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            detail = f"{error.get('Code', '?')}: {error.get('Message', '')}"
        elif isinstance(exc, BotoCoreError):
            detail = str(exc)
        else:
            return False
        raise RepositoryError(f"DynamoDB {self.operation} failed: {' '.join(detail.split())}") from exc
