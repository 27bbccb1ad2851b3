"""The alerts pages of the site (/alerts/): views, forms and the preview figure."""
