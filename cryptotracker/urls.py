"""Root URLs: admin, accounts, alerts pages, the API, its schema and docs, health, metrics, dashboards."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cryptotracker.api_errors import api_path_not_found
from cryptotracker.api_root import EndpointListApi


class FaviconRedirect(RedirectView):
    """/favicon.ico → the static icon the pages link (clients that ask for it without reading a page)."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("dashboards/favicon.svg")  # at request time: the manifest exists by then


urlpatterns = [
    path("favicon.ico", FaviconRedirect.as_view()),
    path("admin/", admin.site.urls),
    path("accounts/", include("cryptotracker.accounts.urls")),
    path("alerts/", include("alerts.web.urls")),
    path("api/v1/alerts/", include("alerts.api.urls")),
    path("api/v1/", EndpointListApi.as_view(), name="api-root"),
    path("api/v1/", include("prices.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Last under api/: an unknown API path is the JSON 404, with DEBUG too.
    re_path(r"^api/(?P<path>.*)$", api_path_not_found),
    path("", include("cryptotracker.monitoring.urls")),
    path("", include("prices.dashboards.urls")),
]

handler404 = "cryptotracker.api_errors.page_not_found"
handler500 = "cryptotracker.api_errors.server_error"
