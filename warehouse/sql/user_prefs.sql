-- user_prefs: every set_preferences event, the history the user tables look preferences up in.
-- Grain: one row per set_preferences event; partition day = UTC date of ts.
-- A NULL field means the event did not set that preference.
-- Inputs: events. Variables: day (DATE).
SELECT
    user_id,
    ts,
    event_id,
    pref_tz AS tz,
    daily_goal_minutes,
    completion_threshold,
    playback_speed,
    getvariable('day') AS day
FROM events
WHERE date = getvariable('day') AND type = 'set_preferences'
