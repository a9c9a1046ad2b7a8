-- A new change request looks for the alias's open requests (a duplicate,
-- or too many). Only pending rows are indexed, so the look-up does not
-- walk the alias's decided history.
CREATE INDEX change_requests_pending_of_alias ON change_requests (model_id, alias, id)
    WHERE state = 'PENDING';
