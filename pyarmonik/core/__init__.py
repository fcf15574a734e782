"""Domain of the grid: ids, statuses, models, errors, filters. No I/O here."""
