-- One outbox row per booking carries all its reminders (booking/outbox.go,
-- reminders): delivered, it is re-armed with the next one. Pending rows of
-- the old layout (one per reminder) collapse into the earliest one, which
-- the dispatcher now re-arms with the others; without this they would each
-- be re-armed and the later reminders sent more than once.
DELETE FROM outbox o
WHERE o.kind = 'reminder' AND o.delivered_at IS NULL AND o.dropped_at IS NULL
    AND EXISTS (SELECT 1 FROM outbox p
        WHERE p.kind = 'reminder' AND p.booking_id = o.booking_id AND p.delivered_at IS NULL AND p.dropped_at IS NULL
            AND (p.due_at, p.id) < (o.due_at, o.id));
