DROP TABLE escalation_requests;
DROP TABLE escalations;
DROP TABLE open311_services;
