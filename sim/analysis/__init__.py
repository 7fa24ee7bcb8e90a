"""Analysis of results: statistics, closed forms, plot data, plots, the report and the audit."""
