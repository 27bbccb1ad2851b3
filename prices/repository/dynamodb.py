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
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from prices.domain import HOUR_MS, Tick, decimal_str, to_ms
from prices.ohlc import HourCandle
from prices.repository.base import LatestPrice, RepositoryError
from prices.repository.dynamodb_items import (
    DAY_MS,
    RESERVED,
    TTL_ATTRIBUTE,
    day_key,
    day_partitions,
    hour_attribute,
    hour_candle_to_item,
    hour_candles_from_item,
    hour_candles_key,
    known_gaps_from_item,
    month_key,
    month_partitions,
    number,
    segment_from_item,
    segment_to_item,
    snapshot_from_item,
    tick_from_item,
    tick_to_item,
)
from prices.rollups import BlockRollup, HourRollup, MinuteSnapshot

logger = logging.getLogger(__name__)

BATCH_WRITE_MAX = 25  # DynamoDB's BatchWriteItem limit
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
    for key in ("Items", "Item"):
        if key in body:
            customized_response_dict[key] = body.pop(key)
    response_dict["body"] = json.dumps(body).encode()


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
    ) -> None:
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
        for operation in ("Query", "GetItem"):
            self.client.meta.events.register(
                f"before-parse.dynamodb.{operation}", _items_without_model_parsing
            )
        self.ticks_table = f"{table_prefix}ticks"
        self.aggregates_table = f"{table_prefix}aggregates"
        self.retention_days = retention_days
        self._native_expiry: bool | None = None  # decided once per instance, see native_expiry

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
        chunks = [
            requests[offset : offset + BATCH_WRITE_MAX] for offset in range(0, len(requests), BATCH_WRITE_MAX)
        ]
        with self._errors("put_many"):
            self._batch_write_all(chunks)
        return len(requests)

    def _batch_write_all(self, chunks: list[list[dict[str, Any]]], *, table: str | None = None) -> None:
        """Write BatchWriteItem chunks in parallel on a small bounded pool (boto3 clients are thread-safe)."""
        if len(chunks) <= 1:
            for chunk in chunks:
                self._batch_write(chunk, table=table)
            return
        with ThreadPoolExecutor(max_workers=min(WRITE_WORKERS, len(chunks))) as pool:
            futures = [pool.submit(self._batch_write, chunk, table=table) for chunk in chunks]
        for future in futures:
            future.result()  # re-raises the first failure

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
            for item in items:
                yield tick_from_item(item)
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
        for offset in range(0, len(keys), BATCH_GET_MAX):
            pending = {
                self.ticks_table: {"Keys": keys[offset : offset + BATCH_GET_MAX], "ConsistentRead": True}
            }
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
            for offset in range(0, len(requests), BATCH_WRITE_MAX):
                self._batch_write(requests[offset : offset + BATCH_WRITE_MAX])
        return len(requests)

    # --- minute snapshots ---------------------------------------------------------------

    def _snapshot_key(self, exchange: str, minute_ms: int) -> dict[str, Any]:
        return {"pk": {"S": f"{exchange}#1m#{day_key(minute_ms)}"}, "sk": number(minute_ms)}

    def claim_snapshot(self, snapshot: MinuteSnapshot) -> bool:
        """Conditional PutItem (attribute_not_exists): the first writer of a minute wins.

        The prices go into one String attribute `prices` ("BTCUSD=7240.1;AAVE:USD=0.00007181"):
        window edges read up to 59 of these items for every pair, and one string per item
        costs far less to store, send and parse than one Number attribute per pair.
        """
        item = self._snapshot_key(snapshot.exchange, snapshot.minute_ms)
        item["src"] = {"S": snapshot.source}
        if snapshot.pending:
            item["pending"] = number(1)
        item["prices"] = {
            "S": ";".join(
                f"{self._pair_attr(pair)}={decimal_str(price)}" for pair, price in snapshot.prices.items()
            )
        }
        with self._errors("claim_snapshot"):
            try:
                self.client.put_item(
                    TableName=self.aggregates_table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#sk)",
                    ExpressionAttributeNames={"#sk": "sk"},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def complete_snapshot(self, *, exchange: str, minute_ms: int) -> None:
        """UpdateItem REMOVE pending, on condition that the snapshot exists (never creates one)."""
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
        """UpdateItem with SET #pair = if_not_exists(#pair, :price), 50 pairs per call."""
        key = self._snapshot_key(snapshot.exchange, snapshot.minute_ms)
        pairs = sorted(snapshot.prices)
        with self._errors("merge_snapshot"):
            for offset in range(0, max(len(pairs), 1), UPDATE_CHUNK):
                chunk = pairs[offset : offset + UPDATE_CHUNK]
                names = {"#src": "src"}
                values = {":src": {"S": snapshot.source}}
                clauses = ["#src = if_not_exists(#src, :src)"]
                for i, pair in enumerate(chunk):
                    names[f"#p{i}"] = self._pair_attr(pair)
                    values[f":v{i}"] = number(snapshot.prices[pair])
                    clauses.append(f"#p{i} = if_not_exists(#p{i}, :v{i})")
                self.client.update_item(
                    TableName=self.aggregates_table,
                    Key=key,
                    UpdateExpression="SET " + ", ".join(clauses),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )

    def get_snapshot(self, *, exchange: str, minute_ms: int) -> MinuteSnapshot | None:
        """GetItem of one minute's snapshot (strongly consistent)."""
        with self._errors("get_snapshot"):
            response = self.client.get_item(
                TableName=self.aggregates_table,
                Key=self._snapshot_key(exchange, minute_ms),
                ConsistentRead=True,
            )
        item = response.get("Item")
        return snapshot_from_item(exchange, item) if item else None

    def snapshots_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> list[MinuteSnapshot]:
        """Query each UTC-day partition of [start_ms, end_ms), projecting `pairs` if given."""
        items = self._query_partitions(day_partitions(exchange, start_ms, end_ms), pairs)
        wanted = set(pairs) if pairs is not None else None
        return [snapshot_from_item(exchange, item, wanted) for item in items]

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

    def put_rollup(self, rollup: HourRollup) -> bool:
        """PutItem unless the stored rollup has more `values` (ConditionExpression)."""
        item: dict[str, Any] = {
            "pk": {"S": f"{rollup.exchange}#1h#{month_key(rollup.hour_ms)}"},
            "sk": number(rollup.hour_ms),
            "values": number(rollup.values),
        }
        for pair, segment in rollup.segments.items():
            item[self._pair_attr(pair)] = segment_to_item(segment)
        with self._errors("put_rollup"):
            try:
                self.client.put_item(
                    TableName=self.aggregates_table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#sk) OR #values <= :values",
                    ExpressionAttributeNames={"#sk": "sk", "#values": "values"},
                    ExpressionAttributeValues={":values": number(rollup.values)},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def rollups_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> list[HourRollup]:
        """Query each UTC-month partition of [start_ms, end_ms), projecting `pairs` if given."""
        items = self._query_partitions(month_partitions(exchange, start_ms, end_ms), pairs)
        return [
            HourRollup(
                exchange=exchange,
                hour_ms=int(item["sk"]["N"]),
                segments={name: segment_from_item(v) for name, v in item.items() if name not in RESERVED},
            )
            for item in items
        ]

    def _query_partitions(
        self, partitions: list[tuple[str, int, int]], pairs: Iterable[str] | None
    ) -> list[dict[str, Any]]:
        pair_list = sorted(set(pairs)) if pairs is not None else None
        projections: list[tuple[str, dict[str, str]] | None] = [None]
        if pair_list is not None:
            projections = []
            for offset in range(0, max(len(pair_list), 1), PROJECTION_CHUNK):
                chunk = pair_list[offset : offset + PROJECTION_CHUNK]
                names = {"#pk": "pk", "#sk": "sk", "#src": "src", "#prices": "prices", "#pending": "pending"}
                names.update({f"#p{i}": self._pair_attr(p) for i, p in enumerate(chunk)})
                projections.append((", ".join(names), names))
        merged: dict[int, dict[str, Any]] = {}
        for pk, lo, hi in partitions:
            for projection in projections:
                kwargs: dict[str, Any] = {
                    "TableName": self.aggregates_table,
                    "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
                    "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
                    "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": number(lo), ":hi": number(hi)},
                    "ConsistentRead": True,
                }
                if projection is not None:
                    kwargs["ProjectionExpression"] = projection[0]
                    kwargs["ExpressionAttributeNames"] = projection[1]
                while True:
                    with self._errors("query"):
                        response = self.client.query(**kwargs)
                    for item in response.get("Items", []):
                        merged.setdefault(int(item["sk"]["N"]), {}).update(item)
                    if "LastEvaluatedKey" not in response:
                        break
                    kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return [merged[sk] for sk in sorted(merged)]

    # --- known gaps -------------------------------------------------------------------------

    def add_known_gaps(self, *, exchange: str, minutes: Mapping[str, Iterable[int]]) -> None:
        """UpdateItem ADD of a Number Set per pair on the hour's item, 50 pairs per call (idempotent)."""
        by_hour: dict[int, dict[str, set[int]]] = {}
        for pair, pair_minutes in minutes.items():
            self._pair_attr(pair)
            for minute_ms in pair_minutes:
                by_hour.setdefault(minute_ms - minute_ms % HOUR_MS, {}).setdefault(pair, set()).add(minute_ms)
        with self._errors("add_known_gaps"):
            for hour_ms, pairs in sorted(by_hour.items()):
                names_sorted = sorted(pairs)
                for offset in range(0, len(names_sorted), UPDATE_CHUNK):
                    chunk = names_sorted[offset : offset + UPDATE_CHUNK]
                    self.client.update_item(
                        TableName=self.aggregates_table,
                        Key={"pk": {"S": f"{exchange}#gaps#{month_key(hour_ms)}"}, "sk": number(hour_ms)},
                        UpdateExpression="ADD " + ", ".join(f"#p{i} :v{i}" for i in range(len(chunk))),
                        ExpressionAttributeNames={f"#p{i}": pair for i, pair in enumerate(chunk)},
                        ExpressionAttributeValues={
                            f":v{i}": {"NS": [str(m) for m in sorted(pairs[p])]} for i, p in enumerate(chunk)
                        },
                    )

    def known_gaps_between(
        self, *, exchange: str, start_ms: int, end_ms: int, pairs: Iterable[str] | None = None
    ) -> dict[str, set[int]]:
        """Query each UTC-month partition of known-gap hour items overlapping [start_ms, end_ms)."""
        if end_ms <= start_ms:
            return {}
        partitions = month_partitions(exchange, start_ms - start_ms % HOUR_MS, end_ms, kind="gaps")
        wanted = set(pairs) if pairs is not None else None
        gaps: dict[str, set[int]] = {}
        for item in self._query_partitions(partitions, pairs):
            for pair, minutes in known_gaps_from_item(item, start_ms, end_ms, wanted).items():
                gaps.setdefault(pair, set()).update(minutes)
        return gaps

    # --- 23-hour blocks -----------------------------------------------------------------------

    @staticmethod
    def _block_key(exchange: str, end_ms: int) -> dict[str, Any]:
        return {"pk": {"S": f"{exchange}#23h#{month_key(end_ms)}"}, "sk": number(end_ms)}

    def get_block(
        self, *, exchange: str, end_ms: int, pairs: Iterable[str] | None = None
    ) -> BlockRollup | None:
        """GetItem of one block (strongly consistent), projecting `pairs` when there are few."""
        kwargs: dict[str, Any] = {
            "TableName": self.aggregates_table,
            "Key": self._block_key(exchange, end_ms),
            "ConsistentRead": True,
        }
        wanted = set(pairs) if pairs is not None else None
        if wanted is not None and len(wanted) <= PROJECTION_CHUNK:
            names = {"#sk": "sk", **{f"#p{i}": self._pair_attr(p) for i, p in enumerate(sorted(wanted))}}
            kwargs["ProjectionExpression"] = ", ".join(names)
            kwargs["ExpressionAttributeNames"] = names
        with self._errors("get_block"):
            item = self.client.get_item(**kwargs).get("Item")
        if item is None:
            return None
        segments = {
            name: segment_from_item(value)
            for name, value in item.items()
            if name not in RESERVED and (wanted is None or name in wanted)
        }
        return BlockRollup(exchange=exchange, end_ms=end_ms, segments=segments)

    def put_block(self, block: BlockRollup) -> None:
        """PutItem of a block (one String attribute per pair, as hour rollups)."""
        item = self._block_key(block.exchange, block.end_ms)
        for pair, segment in block.segments.items():
            item[self._pair_attr(pair)] = segment_to_item(segment)
        with self._errors("put_block"):
            self.client.put_item(TableName=self.aggregates_table, Item=item)

    def delete_blocks(self, *, exchange: str, ends_ms: Iterable[int]) -> None:
        """BatchWriteItem of DeleteRequests, 25 per call, unprocessed ones retried."""
        requests = [{"DeleteRequest": {"Key": self._block_key(exchange, e)}} for e in sorted(set(ends_ms))]
        with self._errors("delete_blocks"):
            for offset in range(0, len(requests), BATCH_WRITE_MAX):
                self._batch_write(requests[offset : offset + BATCH_WRITE_MAX], table=self.aggregates_table)

    # --- latest-price registry ------------------------------------------------------------

    def _latest_key(self, exchange: str) -> dict[str, Any]:
        return {"pk": {"S": f"{exchange}#latest"}, "sk": number(0)}

    def update_latest(self, *, exchange: str, prices: Mapping[str, LatestPrice]) -> None:
        """Read-merge-write of the registry item with an optimistic `version` condition."""
        if not prices:
            return
        for attempt in range(LATEST_RETRIES):
            with self._errors("update_latest"):
                response = self.client.get_item(
                    TableName=self.aggregates_table, Key=self._latest_key(exchange), ConsistentRead=True
                )
                item = response.get("Item") or {**self._latest_key(exchange), "version": number(0)}
                version = int(item["version"]["N"])
                changed = False
                for pair, entry in prices.items():
                    attr = self._pair_attr(pair)
                    stored = item.get(attr)
                    if stored is not None and int(stored["M"]["m"]["N"]) > entry.minute_ms:
                        continue
                    item[attr] = {"M": {"m": number(entry.minute_ms), "p": number(entry.price)}}
                    changed = True
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
        raise RepositoryError(
            f"latest-price registry of {exchange} kept changing; gave up after {LATEST_RETRIES} tries"
        )

    def latest_prices(self, *, exchange: str) -> dict[str, LatestPrice]:
        """Strongly consistent GetItem of the registry item."""
        with self._errors("latest_prices"):
            response = self.client.get_item(
                TableName=self.aggregates_table, Key=self._latest_key(exchange), ConsistentRead=True
            )
        item = response.get("Item") or {}
        return {
            name: LatestPrice(minute_ms=int(v["M"]["m"]["N"]), price=Decimal(v["M"]["p"]["N"]))
            for name, v in item.items()
            if name not in RESERVED
        }

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
