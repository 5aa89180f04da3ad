-- user_daily: per user and local day (SPEC §5).
-- Grain: user x local day (see user_activity for the time-zone rule); partition day.
-- A row exists for each local day with at least one view that played.
-- watch_time_min    watch time that day, minutes
-- videos_watched    distinct videos played that day
-- videos_completed  distinct videos with a view that completed its cycle that day
-- sessions          views that played; avg_session_min = watch_time_min / sessions
-- goal_minutes      the daily_goal_minutes of the user's latest set_preferences that set one
--                   before the end of that local day, else the default (variable)
-- goal_met          watch_time_min >= goal_minutes
-- Inputs: user_activity, user_prefs. Variables: day (DATE), default_goal_minutes (INTEGER).
WITH a AS (
    SELECT * FROM user_activity WHERE day = getvariable('day')
),
d AS (
    SELECT
        user_id,
        arg_min(tz, first_started_at) AS tz,
        sum(watch_time_s::DECIMAL(18, 3)) / 60 AS watch_time_min,
        count(DISTINCT video_id) AS videos_watched,
        count(DISTINCT video_id) FILTER (WHERE completed_views > 0) AS videos_completed,
        sum(sessions) AS sessions
    FROM a
    GROUP BY user_id
),
goals AS (
    SELECT user_id, ts, daily_goal_minutes FROM user_prefs WHERE daily_goal_minutes IS NOT NULL
),
ends AS (
    SELECT *, timezone(tz, CAST(getvariable('day') + 1 AS TIMESTAMP)) AS day_end FROM d
)
SELECT
    e.user_id,
    e.tz,
    e.watch_time_min,
    e.videos_watched,
    e.videos_completed,
    e.sessions,
    e.watch_time_min / e.sessions AS avg_session_min,
    coalesce(g.daily_goal_minutes, getvariable('default_goal_minutes')) AS goal_minutes,
    e.watch_time_min >= coalesce(g.daily_goal_minutes, getvariable('default_goal_minutes'))
        AS goal_met,
    getvariable('day') AS day
FROM ends e
ASOF LEFT JOIN goals g ON g.user_id = e.user_id AND e.day_end > g.ts
