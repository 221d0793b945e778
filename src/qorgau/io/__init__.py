"""Import and export of incidents as JSON Lines and CSV, with mapping profiles for other
organisations' spreadsheets."""
