-- The poverty-alleviation cohort is a small part of all seekers; the
-- monitor reads it every evaluation.
CREATE INDEX IF NOT EXISTS seekers_poverty_idx ON seekers (id) WHERE poverty_registered;
