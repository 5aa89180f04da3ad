-- user_monthly: per user and local calendar month (SPEC §5).
-- Grain: user x month; partition month = the month's first day (month_label: '2024-03').
-- videos_watched / videos_completed are distinct over the month (not sums of days).
-- days_active     local days with watching; goal_met_days: those with the daily goal met
-- goal_met        the goal was met on every day of the month
-- Inputs: user_activity, user_daily. Variables: month (DATE, a first of month).
-- Distinct videos in two steps (per user and video, then per user): one hash aggregate per
-- level instead of one per count(DISTINCT).
WITH per_video AS (
    SELECT
        user_id,
        sum(watch_time_s::DECIMAL(18, 3)) AS watch_time_s,
        sum(sessions) AS sessions,
        bool_or(completed_views > 0) AS completed
    FROM user_activity
    WHERE day >= getvariable('month') AND day <= last_day(getvariable('month'))
    GROUP BY user_id, video_id
),
d AS (
    SELECT *
    FROM user_daily
    WHERE day >= getvariable('month') AND day <= last_day(getvariable('month'))
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
    strftime(getvariable('month'), '%Y-%m') AS month_label,
    d.tz,
    w.watch_time_min,
    w.videos_watched,
    w.videos_completed,
    w.sessions,
    w.watch_time_min / w.sessions AS avg_session_min,
    d.days_active,
    d.goal_met_days,
    d.goal_met_days = day(last_day(getvariable('month'))) AS goal_met,
    getvariable('month') AS month
FROM watching w
JOIN days d USING (user_id)
