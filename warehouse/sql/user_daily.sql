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
-- Distinct videos are counted in two steps (per user and video, then per user): one hash
-- aggregate per level instead of one per count(DISTINCT). The goal is looked up only for the
-- few users who ever set one (a join to them, not an ASOF join over every user).
WITH per_video AS (
    SELECT
        user_id,
        arg_min(tz, first_started_at) AS tz,
        min(first_started_at) AS first_started_at,
        sum(watch_time_s::DECIMAL(18, 3)) AS watch_time_s,
        sum(sessions) AS sessions,
        bool_or(completed_views > 0) AS completed
    FROM user_activity
    WHERE day = getvariable('day')
    GROUP BY user_id, video_id
),
d AS (
    SELECT
        user_id,
        arg_min(tz, first_started_at) AS tz,
        sum(watch_time_s) / 60 AS watch_time_min,
        count(*) AS videos_watched,
        count(*) FILTER (WHERE completed) AS videos_completed,
        sum(sessions) AS sessions
    FROM per_video
    GROUP BY user_id
),
goals AS (
    SELECT user_id, ts, daily_goal_minutes FROM user_prefs WHERE daily_goal_minutes IS NOT NULL
),
goal_of AS (
    -- the latest goal set before the end of the local day (ties: the larger goal)
    SELECT d.user_id, arg_max(g.daily_goal_minutes, (g.ts, g.daily_goal_minutes)) AS goal
    FROM d
    JOIN goals g
        ON g.user_id = d.user_id
        AND g.ts < timezone(d.tz, CAST(getvariable('day') + 1 AS TIMESTAMP))
    GROUP BY d.user_id
)
SELECT
    d.user_id,
    d.tz,
    d.watch_time_min,
    d.videos_watched,
    d.videos_completed,
    d.sessions,
    d.watch_time_min / d.sessions AS avg_session_min,
    coalesce(g.goal, getvariable('default_goal_minutes')) AS goal_minutes,
    d.watch_time_min >= coalesce(g.goal, getvariable('default_goal_minutes')) AS goal_met,
    getvariable('day') AS day
FROM d
LEFT JOIN goal_of g USING (user_id)
