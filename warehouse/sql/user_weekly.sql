-- user_weekly: per user and local ISO week (SPEC §5), Monday to Sunday in the user's time zone.
-- Grain: user x ISO week; partition week = the week's Monday (iso_week: '2024-W09').
-- videos_watched / videos_completed are distinct over the week (not sums of days).
-- days_active     local days with watching; goal_met_days: those with the daily goal met
-- goal_met        the goal was met on every day of the week
-- Inputs: user_activity, user_daily. Variables: week (DATE, a Monday).
-- Distinct videos in two steps (per user and video, then per user): one hash aggregate per
-- level instead of one per count(DISTINCT).
WITH per_video AS (
    SELECT
        user_id,
        sum(watch_time_s::DECIMAL(18, 3)) AS watch_time_s,
        sum(sessions) AS sessions,
        bool_or(completed_views > 0) AS completed
    FROM user_activity
    WHERE day >= getvariable('week') AND day < getvariable('week') + 7
    GROUP BY user_id, video_id
),
d AS (
    SELECT *
    FROM user_daily
    WHERE day >= getvariable('week') AND day < getvariable('week') + 7
),
watching AS (
    SELECT
        user_id,
        sum(watch_time_s) / 60 AS watch_time_min,
        count(*) AS videos_watched,
        count(*) FILTER (WHERE completed) AS videos_completed,
        sum(sessions) AS sessions
    FROM per_video
    GROUP BY user_id
),
days AS (
    SELECT
        user_id,
        arg_max(tz, day) AS tz,
        count(*) AS days_active,
        count(*) FILTER (WHERE goal_met) AS goal_met_days
    FROM d
    GROUP BY user_id
)
SELECT
    w.user_id,
    strftime(getvariable('week'), '%G-W%V') AS iso_week,
    d.tz,
    w.watch_time_min,
    w.videos_watched,
    w.videos_completed,
    w.sessions,
    w.watch_time_min / w.sessions AS avg_session_min,
    d.days_active,
    d.goal_met_days,
    d.goal_met_days = 7 AS goal_met,
    getvariable('week') AS week
FROM watching w
JOIN days d USING (user_id)
