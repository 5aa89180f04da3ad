-- user_activity: a user's watching, per local day, video and local hour; the building block of
-- user_daily / weekly / monthly / all_time.
-- Grain: user x local day x video x local hour of view start; partition day = the local date.
-- Only views that played (watch_time_s > 0) count as the user's watching sessions.
-- Local time rule: a view is placed by its started_at in the user's time zone at that instant,
-- which is the tz of the user's latest set_preferences that set one at or before started_at;
-- failing that the session's own tz (the player's context.tz); failing that UTC. Names ICU does
-- not know count as missing. A view is counted whole on the local day and hour it started.
-- Inputs: views, user_prefs. Variables: first_day, last_day (DATE): the local days to compute
-- (the rollup computes a run of consecutive days in one pass; set both to rerun one day).
WITH zones AS (
    SELECT name FROM pg_timezone_names()
),
v AS (
    SELECT *
    FROM views
    WHERE day BETWEEN getvariable('first_day') - 1 AND getvariable('last_day') + 1
      AND watch_time_s > 0
),
prefs AS (
    SELECT user_id, ts, tz FROM user_prefs WHERE tz IN (SELECT name FROM zones)
),
pref_users AS (
    SELECT DISTINCT user_id FROM prefs
),
pref_tz AS (
    -- the ASOF join only for the views of the few users who ever set a time zone
    SELECT v.*, p.tz AS pref_tz
    FROM (SELECT * FROM v SEMI JOIN pref_users USING (user_id)) v
    ASOF LEFT JOIN prefs p ON p.user_id = v.user_id AND v.started_at >= p.ts
    UNION ALL BY NAME
    SELECT *, NULL::VARCHAR AS pref_tz FROM v ANTI JOIN pref_users USING (user_id)
),
placed AS (
    SELECT
        *,
        coalesce(pref_tz, CASE WHEN tz IN (SELECT name FROM zones) THEN tz END, 'UTC') AS eff_tz
    FROM pref_tz
),
local AS (
    SELECT *, timezone(eff_tz, started_at) AS local_start FROM placed
)
SELECT
    user_id,
    video_id,
    hour(local_start) AS hour,
    arg_min(eff_tz, started_at) AS tz,
    count(*) AS sessions,
    sum(watch_time_s::DECIMAL(18, 3)) AS watch_time_s,
    count(*) FILTER (WHERE completed) AS completed_views,
    min(started_at) AS first_started_at,
    max(ended_at) AS last_ended_at,
    CAST(local_start AS DATE) AS day
FROM local
WHERE CAST(local_start AS DATE) BETWEEN getvariable('first_day') AND getvariable('last_day')
GROUP BY user_id, CAST(local_start AS DATE), video_id, hour(local_start)
