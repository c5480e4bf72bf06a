-- Where each sink delivers (its url, path or controllers), so that a sink whose receiver changed between
-- two runs of the exporter forgets the version the old receiver acknowledged. NULL: not known yet (a row
-- from schema 1), taken as unchanged.
ALTER TABLE export_sinks ADD COLUMN target TEXT;
