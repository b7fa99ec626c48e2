-- Every booked row went into nine indexes on bookings. Two of them served
-- little and cost an index insert per booking:
--  * bookings_slot_idx (slot_id): its one reader, a booth's timetable, now
--    finds a slot's active booking through bookings_no_double_booking
--    (booth_id, lane, during), which every active booking is in anyway;
--    the foreign key to slots needs no index on this side (slots are
--    never deleted and their key columns never change).
--  * bookings_start_idx (lower(during)) WHERE status = 'booked': its
--    readers, the no-show-rate alert and the live dashboard (every 30 s,
--    one fair's last hour), now scan the lower(during) column of
--    bookings_seeker_idx (or bookings_booth_day_idx): at city scale
--    (25,000 bookings) 8-16 ms against 11-12 ms with it, the heap visits
--    dominating either way. bookings_noshow_idx stays for the sweeper,
--    which runs every second.
DROP INDEX bookings_slot_idx;
DROP INDEX bookings_start_idx;
