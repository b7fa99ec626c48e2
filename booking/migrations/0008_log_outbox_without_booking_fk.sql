-- Every booking writes an employment log entry and outbox rows that name
-- it. Their foreign keys to bookings cost, per row, a lookup and a FOR KEY
-- SHARE lock (a WAL record) on the booking row the same statement has just
-- inserted. The integrity they guarded holds without them:
--  * every writer takes booking_id from a bookings row it inserts or reads
--    in the same transaction (the reservation and scheduler statements
--    RETURNING the new rows; confirm, cancel and outcome under lockGroup's
--    FOR UPDATE; room events, recordings and recording jobs joining
--    bookings; the no-show sweep), and
--  * a booking row is never deleted: nothing in jobhall deletes one (they
--    end as cancelled, expired or rescheduled), and the trigger below now
--    refuses DELETE and TRUNCATE, as the foreign keys did.
-- Other tables keep their foreign keys to bookings (outcomes, recordings,
-- recording jobs: not written per booking).
ALTER TABLE employment_log DROP CONSTRAINT employment_log_booking_id_fkey;
ALTER TABLE outbox DROP CONSTRAINT outbox_booking_id_fkey;

CREATE FUNCTION bookings_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'bookings are never deleted (the employment log and the outbox refer to them): % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER bookings_no_delete BEFORE DELETE ON bookings
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_never_deleted();
CREATE TRIGGER bookings_no_truncate BEFORE TRUNCATE ON bookings
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_never_deleted();
