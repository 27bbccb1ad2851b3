"""Browser dashboards: overview, pair and compare pages drawn with Plotly."""
