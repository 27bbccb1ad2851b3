"""URLs of the price API (mounted under /api/v1/)."""

from django.urls import path

from prices.api import views

app_name = "prices"

urlpatterns = [
    path("pairs/", views.PairListApi.as_view(), name="pair-list"),
    path("pairs/<str:pair>/history/", views.PairHistoryApi.as_view(), name="pair-history"),
]
