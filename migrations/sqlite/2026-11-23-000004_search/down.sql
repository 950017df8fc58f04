DROP TABLE search_gaps;
