"""How the API presents itself: OpenAPI tags per resource, public operations without a lock, view names."""

import re

# (tag, description, path pattern) in Swagger's display order; the patterns do not overlap.
_TAGS = (
    ("Pairs", "Tracked pairs and their newest tick.", r"/pairs/(\{pair\}/)?$"),
    ("History & candles", "Minute ticks or OHLC candles of a pair; JSON or CSV.", r"/history/$"),
    ("Statistics", "Statistics of a pair's minute prices over a window.", r"/pairs/[^/]+/stats/$"),
    ("Rank", "Pairs ordered by a dispersion metric over a window, on one exchange or all.", r"/rank/$"),
    ("Exchanges", "The configured exchanges with their pair counts and freshness.", r"/exchanges/$"),
    (
        "Markets",
        "One base/quote's newest price on every exchange, with the spread.",
        r"/markets/(\{market\}/)?$",
    ),
    ("Alert rules", "The signed-in user's price alert rules and their backtest.", r"/alerts/rules/"),
    ("Conditions", "The alert conditions a rule can use, with their parameters.", r"/alerts/conditions/$"),
    ("Channels", "The signed-in user's notification channels and their verification.", r"/alerts/channels/"),
    ("Events", "The signed-in user's alert history with deliveries.", r"/alerts/events/"),
    ("Meta", "Links to the API's collections, schema and docs.", r"^/api/v1/$"),
)
TAGS = [{"name": name, "description": description} for name, description, _ in _TAGS]


def tag_of(path: str) -> str:
    """The tag of an OpenAPI path such as "/api/v1/rank/"; ValueError unless exactly one tag covers it."""
    matches = [name for name, _, pattern in _TAGS if re.search(pattern, path)]
    if len(matches) == 1:
        return matches[0]
    raise ValueError(f"{len(matches)} OpenAPI tags cover {path}: add it to cryptotracker.api_docs._TAGS")


def tag_and_unlock(result, generator, request, public):
    """drf-spectacular postprocessing hook: operations tagged by resource, anonymous ones `security: []`.

    drf-spectacular lists `{}` (no credentials) among an operation's security requirements when its view's
    permissions allow anonymous access; Swagger UI draws a lock for any non-empty list, so those become [].
    """
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            operation["tags"] = [tag_of(path)]
            if {} in operation.get("security", []):
                operation["security"] = []
    return result


def view_name(view) -> str:
    """The browsable API's name of a view: its `name` if set, else "PairHistoryApi" reads "Pair history"."""
    name = getattr(view, "name", None)
    if name is not None:
        return name
    bare = re.sub(r"(Api|View)$", "", view.__class__.__name__)
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", bare).split()
    name = " ".join([words[0]] + [w.lower() for w in words[1:]]) if words else view.__class__.__name__
    suffix = getattr(view, "suffix", None)
    return f"{name} {suffix}" if suffix else name
