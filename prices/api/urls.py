"""URLs of the price API (mounted under /api/v1/)."""

from django.urls import path

from prices.api import views

app_name = "prices"

urlpatterns = [
    path("pairs/", views.PairListApi.as_view(), name="pair-list"),
    path("pairs/<str:pair>/", views.PairDetailApi.as_view(), name="pair-detail"),
    path("pairs/<str:pair>/history/", views.PairHistoryApi.as_view(), name="pair-history"),
    path("pairs/<str:pair>/stats/", views.PairStatsApi.as_view(), name="pair-stats"),
    path("rank/", views.RankApi.as_view(), name="rank"),
    path("exchanges/", views.ExchangeListApi.as_view(), name="exchange-list"),
    path("markets/", views.MarketListApi.as_view(), name="market-list"),
    path("markets/<str:market>/", views.MarketDetailApi.as_view(), name="market-detail"),
]
