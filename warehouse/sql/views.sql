-- views: one row per view.
-- Grain: one row per session_key; partition day = UTC date of the session's started_at.
-- A view is a closed playback session (tier-1 sessions) that had a `start` or `play` event
-- (SPEC §5); its start/play event may fall on the next UTC day for a session that began just
-- before midnight, so events of day and day + 1 are consulted.
-- played: the viewer got at least one played second (startup_time_s set or played_s > 0).
-- exited_before_start: never played and no error (Mux "Exits Before Video Start");
--   never played with an error is a startup failure instead.
-- duration_s: the session's, else the catalog's.
-- Inputs: sessions, events, catalog. Variables: day (DATE).
WITH s AS (
    SELECT * FROM sessions WHERE date = getvariable('day')
),
starts AS (
    -- no DISTINCT: the semi join below keeps each session once anyway
    SELECT user_id, session_id
    FROM events
    WHERE date BETWEEN getvariable('day') AND getvariable('day') + 1
      AND type IN ('start', 'play')
      AND session_id IS NOT NULL
)
SELECT
    s.video_id,
    s.user_id,
    s.session_key,
    s.session_id,
    s.device_id,
    s.device_type,
    s.referrer,
    s.tz,
    s.started_at,
    s.ended_at,
    s.end_reason,
    s.watch_time_s,
    s.played_s,
    s.startup_time_s,
    s.rebuffer_time_s,
    s.errors,
    coalesce(s.duration_s, c.duration_s) AS duration_s,
    s.played_intervals,
    s.cycle,
    s.completed,
    (s.startup_time_s IS NOT NULL OR s.played_s > 0) AS played,
    NOT (s.startup_time_s IS NOT NULL OR s.played_s > 0) AND s.errors = 0 AS exited_before_start,
    getvariable('day') AS day
FROM s
SEMI JOIN starts ON s.user_id = starts.user_id AND s.session_id = starts.session_id
LEFT JOIN catalog c ON c.video_id = s.video_id
