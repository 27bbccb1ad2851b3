"""URLs of the dashboards (mounted at the site root): pages and the fragments their script loads."""

from django.urls import path

from prices.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("overview/live/", views.overview_live, name="overview-live"),
    path("pairs/<str:pair>/", views.pair_detail, name="pair"),
    path("pairs/<str:pair>/chart.json", views.pair_chart_data, name="pair-chart"),
    path("pairs/<str:pair>/stats/", views.pair_stats_fragment, name="pair-stats"),
    path("compare/", views.compare, name="compare"),
    path("compare/chart.json", views.compare_chart_data, name="compare-chart"),
    path("watchlist/", views.watchlist, name="watchlist"),
    path("markets/", views.markets, name="markets"),
    path("markets/<str:market>/", views.market_detail, name="market"),
    path("markets/<str:market>/chart.json", views.market_chart_data, name="market-chart"),
]
