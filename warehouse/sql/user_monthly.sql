-- user_monthly: per user and local calendar month (SPEC §5).
-- Grain: user x month; partition month = the month's first day (month_label: '2024-03').
-- videos_watched / videos_completed are distinct over the month (not sums of days).
-- days_active     local days with watching; goal_met_days: those with the daily goal met
-- goal_met        the goal was met on every day of the month
-- Inputs: user_activity, user_daily. Variables: month (DATE, a first of month).
-- A user active on one day of the month has that day's figures (user_daily), which are the
-- same sums over the same rows; only users active on several days have their videos counted
-- again over the month (in two steps, per user and video, then per user: one hash aggregate
-- per level instead of one per count(DISTINCT)).
WITH d AS (
    SELECT *
    FROM user_daily
    WHERE day >= getvariable('month') AND day <= last_day(getvariable('month'))
),
days AS (
    SELECT
        user_id,
        arg_max(tz, day) AS tz,
        count(*) AS days_active,
        count(*) FILTER (WHERE goal_met) AS goal_met_days,
        any_value(watch_time_min) AS watch_time_min,
        any_value(videos_watched) AS videos_watched,
        any_value(videos_completed) AS videos_completed,
        any_value(sessions) AS sessions
    FROM d
    GROUP BY user_id
),
per_video AS (
    SELECT
        user_id,
        sum(watch_time_s::DECIMAL(18, 3)) AS watch_time_s,
        sum(sessions) AS sessions,
        bool_or(completed_views > 0) AS completed
    FROM user_activity
    SEMI JOIN (SELECT user_id FROM days WHERE days_active > 1) USING (user_id)
    WHERE day >= getvariable('month') AND day <= last_day(getvariable('month'))
    GROUP BY user_id, video_id
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
merged AS (
    SELECT
        d.user_id,
        d.tz,
        CASE WHEN d.days_active = 1 THEN d.watch_time_min ELSE w.watch_time_min END
            AS watch_time_min,
        CASE WHEN d.days_active = 1 THEN d.videos_watched ELSE w.videos_watched END
            AS videos_watched,
        CASE WHEN d.days_active = 1 THEN d.videos_completed ELSE w.videos_completed END
            AS videos_completed,
        CASE WHEN d.days_active = 1 THEN d.sessions ELSE w.sessions END AS sessions,
        d.days_active,
        d.goal_met_days
    FROM days d
    LEFT JOIN watching w USING (user_id)
)
SELECT
    d.user_id,
    strftime(getvariable('month'), '%Y-%m') AS month_label,
    d.tz,
    d.watch_time_min,
    d.videos_watched,
    d.videos_completed,
    d.sessions,
    d.watch_time_min / d.sessions AS avg_session_min,
    d.days_active,
    d.goal_met_days,
    d.goal_met_days = day(last_day(getvariable('month'))) AS goal_met,
    getvariable('month') AS month
FROM merged d
