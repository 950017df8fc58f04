DROP TABLE close_votes;
